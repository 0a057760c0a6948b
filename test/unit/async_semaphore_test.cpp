#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <optional>
#include <vector>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "common/async_semaphore.hpp"

namespace asio = boost::asio;
using namespace std::chrono_literals;
using jarvis::AsyncSemaphore;

namespace {

struct Probe {
  int in_flight = 0;
  int most_in_flight = 0;
  std::vector<int> order;
};

asio::awaitable<void> hold(AsyncSemaphore& slots, Probe& probe, int id) {
  auto permit = co_await slots.acquire();
  REQUIRE(permit);
  probe.order.push_back(id);
  probe.most_in_flight = std::max(probe.most_in_flight, ++probe.in_flight);
  asio::steady_timer timer(co_await asio::this_coro::executor, 2ms);
  co_await timer.async_wait(asio::use_awaitable);
  --probe.in_flight;
}

// Coroutines take what they use as parameters (a capturing lambda's captures die with the temporary).
asio::awaitable<void> take(AsyncSemaphore& slots, std::optional<AsyncSemaphore::Permit>& into) {
  into = co_await slots.acquire();
}

asio::awaitable<void> take_and_report(AsyncSemaphore& slots, bool& done, bool& got_permit) {
  auto permit = co_await slots.acquire();
  got_permit = static_cast<bool>(permit);
  done = true;
}

}  // namespace

TEST_CASE("AsyncSemaphore lets at most N hold it, in arrival order", "[semaphore]") {
  asio::io_context io;
  AsyncSemaphore slots(io.get_executor(), 3);
  Probe probe;
  for (int i = 0; i < 10; ++i) asio::co_spawn(io, hold(slots, probe, i), [](std::exception_ptr e) {
    if (e) std::rethrow_exception(e);
  });
  io.run();
  CHECK(probe.most_in_flight == 3);
  CHECK(probe.order == std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
  CHECK(slots.available() == 3);
  CHECK(slots.waiting() == 0);
}

TEST_CASE("AsyncSemaphore: a cancelled waiter gets no permit and takes no slot", "[semaphore]") {
  asio::io_context io;
  AsyncSemaphore slots(io.get_executor(), 1);
  std::optional<AsyncSemaphore::Permit> first;
  bool second_done = false;
  bool second_got_permit = true;
  asio::co_spawn(io, take(slots, first), asio::detached);
  io.run();
  io.restart();
  REQUIRE(first.has_value());
  REQUIRE(static_cast<bool>(*first));
  CHECK(slots.available() == 0);

  asio::cancellation_signal stop;
  asio::co_spawn(io, take_and_report(slots, second_done, second_got_permit),
                 asio::bind_cancellation_slot(stop.slot(), asio::detached));
  io.poll();
  CHECK(slots.waiting() == 1);
  stop.emit(asio::cancellation_type::terminal);
  io.run();
  io.restart();
  CHECK(second_done);
  CHECK_FALSE(second_got_permit);
  CHECK(slots.waiting() == 0);

  first->reset();
  CHECK(slots.available() == 1);
}
