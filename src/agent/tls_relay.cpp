#include "agent/tls_relay.hpp"

#include <array>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/write.hpp>

#include "common/coro.hpp"

namespace jarvis::agent {

namespace {

enum class Ended { end_of_stream, failed };

bool end_of_stream(const boost::system::error_code& ec) {
  return ec == asio::error::eof || ec == asio::ssl::error::stream_truncated;
}

template <typename From, typename To, typename HalfClose>
asio::awaitable<Ended> copy(From& from, To& to, HalfClose half_close) {
  std::array<unsigned char, 16 * 1024> buffer;
  for (;;) {
    auto [read_ec, read] = co_await from.async_read_some(asio::buffer(buffer), use_tuple);
    if (read_ec) {
      if (!end_of_stream(read_ec)) co_return Ended::failed;
      half_close();
      co_return Ended::end_of_stream;
    }
    auto [write_ec, written] = co_await asio::async_write(to, asio::buffer(buffer.data(), read), use_tuple);
    if (write_ec) co_return Ended::failed;
  }
}

}  // namespace

asio::awaitable<void> relay(TlsStream& tls, LocalSocket& local, std::chrono::steady_clock::duration linger) {
  auto executor = co_await asio::this_coro::executor;
  boost::system::error_code ignored;
  const auto close_both = [&] {
    tls.next_layer().close(ignored);
    local.close(ignored);
  };
  int ended = 0;
  bool failed = false;
  // Woken (cancelled) each time a direction ends; also the linger's deadline.
  asio::steady_timer wake(executor, asio::steady_timer::time_point::max());
  const auto on_end = [&](std::exception_ptr failure, Ended how) {
    ++ended;
    if (failure || how == Ended::failed) failed = true;
    wake.cancel();
  };
  asio::co_spawn(executor, copy(tls, local, [&] { local.shutdown(LocalSocket::shutdown_send, ignored); }), on_end);
  asio::co_spawn(executor, copy(local, tls, [&] { tls.next_layer().shutdown(asio::socket_base::shutdown_send, ignored); }),
                 on_end);
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

}  // namespace jarvis::agent
