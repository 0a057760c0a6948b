#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <string>
#include <stdexcept>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "common/concurrently.hpp"

namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

struct Probe {
  int in_flight = 0;
  int most_in_flight = 0;
  std::vector<int> done;
};

// Holds its item for a moment (a timer: the lanes really overlap) and records it.
asio::awaitable<void> hold(Probe& probe, int item) {
  ++probe.in_flight;
  probe.most_in_flight = std::max(probe.most_in_flight, probe.in_flight);
  asio::steady_timer timer(co_await asio::this_coro::executor, 2ms);
  co_await timer.async_wait(asio::use_awaitable);
  --probe.in_flight;
  if (item < 0) throw std::runtime_error("item " + std::to_string(item));
  probe.done.push_back(item);
}

void run(asio::awaitable<void> work) {
  asio::io_context io;
  std::exception_ptr failure;
  asio::co_spawn(io, std::move(work), [&](std::exception_ptr e) { failure = e; });
  io.run();
  if (failure) std::rethrow_exception(failure);
}

}  // namespace

TEST_CASE("for_each_concurrently runs every item once with at most `limit` in flight", "[concurrently]") {
  for (std::size_t limit : {std::size_t{1}, std::size_t{3}, std::size_t{16}}) {
    Probe probe;
    std::vector<int> items;
    for (int i = 0; i < 10; ++i) items.push_back(i);
    run(jarvis::for_each_concurrently(items, limit, [&](int item) { return hold(probe, item); }));
    std::sort(probe.done.begin(), probe.done.end());
    CHECK(probe.done == items);
    CHECK(probe.most_in_flight == static_cast<int>(std::min<std::size_t>(limit, items.size())));
    CHECK(probe.in_flight == 0);
  }
}

TEST_CASE("for_each_concurrently with nothing to do returns at once", "[concurrently]") {
  Probe probe;
  run(jarvis::for_each_concurrently(std::vector<int>{}, 4, [&](int item) { return hold(probe, item); }));
  CHECK(probe.done.empty());
}

TEST_CASE("an exception escaping one item is rethrown after the others finished", "[concurrently]") {
  Probe probe;
  const std::vector<int> items{0, 1, -7, 3, 4};
  CHECK_THROWS_WITH(run(jarvis::for_each_concurrently(items, 2, [&](int item) { return hold(probe, item); })),
                    "item -7");
  CHECK(probe.in_flight == 0);
  // The lane that threw stops; the other lane finishes what is left.
  std::sort(probe.done.begin(), probe.done.end());
  CHECK(probe.done == std::vector<int>{0, 1, 3, 4});
}
