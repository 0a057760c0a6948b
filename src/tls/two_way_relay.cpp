#include "tls/two_way_relay.hpp"

#include <exception>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>

#include "common/coro.hpp"

namespace jarvis::tls {

namespace asio = boost::asio;

asio::awaitable<void> relay_both_ways(asio::awaitable<RelayEnd> one, asio::awaitable<RelayEnd> other,
                                      std::function<void()> close_both, std::chrono::steady_clock::duration linger) {
  auto executor = co_await asio::this_coro::executor;
  int ended = 0;
  bool failed = false;
  // Woken (cancelled) each time a direction ends; also the linger's deadline.
  asio::steady_timer wake(executor, asio::steady_timer::time_point::max());
  const auto on_end = [&](std::exception_ptr failure, RelayEnd how) {
    ++ended;
    if (failure || how == RelayEnd::failed) failed = true;
    wake.cancel();
  };
  // Both hold references into this frame, which waits for both to end.
  asio::co_spawn(executor, std::move(one), on_end);
  asio::co_spawn(executor, std::move(other), on_end);
  bool lingering = false;
  while (ended < 2) {
    if (failed) {
      close_both();
    } else if (ended == 1 && !lingering) {
      lingering = true;
      wake.expires_after(linger);
    }
    auto [ec] = co_await wake.async_wait(use_tuple);
    if (!ec) {  // the linger ran out: the direction still open ends with an error
      close_both();
      wake.expires_at(asio::steady_timer::time_point::max());
    }
  }
  close_both();
}

}  // namespace jarvis::tls
