// The work queue on a real io_context, timed by its own timers: no sleeps, every wait bounded.
#include <catch2/catch.hpp>

#include <set>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include "controller/work_queue.hpp"
#include "metrics/registry.hpp"

using namespace jarvis::controller;
namespace asio = boost::asio;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

// A get() running in the background; finished() once it has returned.
struct PendingGet {
  bool finished = false;
  std::optional<std::string> key;
};

asio::awaitable<void> get_into(std::shared_ptr<PendingGet> pending, WorkQueue& queue) {
  pending->key = co_await queue.get();
  pending->finished = true;
}

std::shared_ptr<PendingGet> spawn_get(asio::io_context& io, WorkQueue& queue, asio::cancellation_slot slot = {}) {
  auto pending = std::make_shared<PendingGet>();
  asio::co_spawn(io, get_into(pending, queue), asio::bind_cancellation_slot(slot, [](std::exception_ptr error) {
                   if (error) std::rethrow_exception(error);
                 }));
  return pending;
}

// Runs the io_context until the get() finishes, at most `limit`.
std::optional<std::string> get_within(asio::io_context& io, WorkQueue& queue, std::chrono::milliseconds limit = 5s) {
  const auto pending = spawn_get(io, queue);
  const auto deadline = Clock::now() + limit;
  while (!pending->finished && Clock::now() < deadline) {
    io.restart();
    io.run_one_for(deadline - Clock::now());
  }
  REQUIRE(pending->finished);
  return pending->key;
}

void poll(asio::io_context& io) {
  io.restart();
  io.poll();
}

}  // namespace

TEST_CASE("backoff doubles from base up to the cap", "[work_queue]") {
  const RetryBackoff backoff{10ms, 40ms};
  CHECK(backoff_delay(backoff, 0) == 10ms);
  CHECK(backoff_delay(backoff, 1) == 20ms);
  CHECK(backoff_delay(backoff, 2) == 40ms);
  CHECK(backoff_delay(backoff, 3) == 40ms);
  CHECK(backoff_delay(backoff, 1000) == 40ms);
  CHECK(backoff_delay(RetryBackoff{}, 0) == 500ms);
  CHECK(backoff_delay(RetryBackoff{}, 9) == 256s);
  CHECK(backoff_delay(RetryBackoff{}, 10) == 5min);
}

TEST_CASE("duplicates collapse and order is first-in first-out", "[work_queue]") {
  asio::io_context io;
  WorkQueue queue(io.get_executor());
  queue.add("ns/a");
  queue.add("ns/b");
  queue.add("ns/a");
  CHECK(queue.ready() == 2);
  CHECK(get_within(io, queue) == "ns/a");
  CHECK(get_within(io, queue) == "ns/b");
  CHECK(queue.ready() == 0);
}

TEST_CASE("a key being processed is not handed out again until done", "[work_queue]") {
  asio::io_context io;
  WorkQueue queue(io.get_executor());
  queue.add("a");
  REQUIRE(get_within(io, queue) == "a");

  queue.add("a");
  queue.add("a");
  CHECK(queue.ready() == 0);
  const auto second = spawn_get(io, queue);
  poll(io);
  CHECK_FALSE(second->finished);

  queue.add("b");
  poll(io);
  REQUIRE(second->finished);
  CHECK(second->key == "b");

  const auto third = spawn_get(io, queue);
  poll(io);
  CHECK_FALSE(third->finished);
  queue.done("a");
  poll(io);
  REQUIRE(third->finished);
  CHECK(third->key == "a");

  queue.done("a");  // not re-added while processing this time: nothing comes back
  queue.done("b");
  CHECK(queue.ready() == 0);
}

TEST_CASE("add_after hands keys out when due, soonest first", "[work_queue]") {
  asio::io_context io;
  WorkQueue queue(io.get_executor());
  const auto start = Clock::now();
  queue.add_after("late", 80ms);
  queue.add_after("soon", 20ms);
  queue.add("now");
  queue.add_after("zero", 0ms);
  CHECK(queue.waiting() == 2);
  CHECK(get_within(io, queue) == "now");
  CHECK(get_within(io, queue) == "zero");
  CHECK(get_within(io, queue) == "soon");
  CHECK(Clock::now() - start >= 20ms);
  CHECK(queue.waiting() == 1);
  CHECK(get_within(io, queue) == "late");
  CHECK(Clock::now() - start >= 80ms);
  CHECK(queue.waiting() == 0);
}

TEST_CASE("add_after keeps the earlier time of a key already waiting", "[work_queue]") {
  asio::io_context io;
  WorkQueue queue(io.get_executor());
  queue.add_after("a", 1h);
  queue.add_after("a", 10ms);
  queue.add_after("b", 20ms);
  queue.add_after("b", 1h);
  CHECK(queue.waiting() == 2);
  CHECK(get_within(io, queue) == "a");
  CHECK(get_within(io, queue) == "b");
  CHECK(queue.waiting() == 0);
}

TEST_CASE("a due key collapses with the same key already queued", "[work_queue]") {
  asio::io_context io;
  WorkQueue queue(io.get_executor());
  queue.add_after("a", 10ms);
  queue.add("a");
  queue.add_after("b", 30ms);
  CHECK(get_within(io, queue) == "a");
  // "a" is processing when its delayed add fires: it is marked dirty, not handed out.
  CHECK(get_within(io, queue) == "b");
  CHECK(queue.ready() == 0);
  queue.done("a");
  CHECK(queue.ready() == 1);
  CHECK(get_within(io, queue) == "a");
}

TEST_CASE("add_rate_limited backs off per key; forget resets", "[work_queue]") {
  asio::io_context io;
  WorkQueue queue(io.get_executor(), RetryBackoff{15ms, 60ms});
  auto start = Clock::now();
  queue.add_rate_limited("a");
  CHECK(queue.failures("a") == 1);
  CHECK(queue.failures("b") == 0);
  CHECK(queue.ready() == 0);
  REQUIRE(get_within(io, queue) == "a");
  CHECK(Clock::now() - start >= 15ms);
  queue.done("a");

  start = Clock::now();
  queue.add_rate_limited("a");
  queue.add_rate_limited("b");
  CHECK(queue.failures("a") == 2);
  CHECK(get_within(io, queue) == "b");  // first failure of b: 15 ms, before a's 30 ms
  CHECK(get_within(io, queue) == "a");
  CHECK(Clock::now() - start >= 30ms);
  queue.done("a");
  queue.done("b");

  queue.forget("a");
  CHECK(queue.failures("a") == 0);
  CHECK(queue.failures("b") == 1);
}

TEST_CASE("shut_down wakes waiting workers and stops the queue", "[work_queue]") {
  asio::io_context io;
  WorkQueue queue(io.get_executor());
  const auto waiting = spawn_get(io, queue);
  poll(io);
  CHECK_FALSE(waiting->finished);
  queue.add_after("later", 1h);
  queue.shut_down();
  poll(io);
  REQUIRE(waiting->finished);
  CHECK_FALSE(waiting->key.has_value());
  CHECK(queue.shutting_down());
  CHECK(queue.waiting() == 0);
  queue.add("a");
  CHECK(queue.ready() == 0);
  CHECK_FALSE(get_within(io, queue).has_value());
}

TEST_CASE("a cancelled get returns nullopt and the queue keeps working", "[work_queue]") {
  asio::io_context io;
  WorkQueue queue(io.get_executor());
  asio::cancellation_signal cancel;
  const auto waiting = spawn_get(io, queue, cancel.slot());
  const auto other = spawn_get(io, queue);
  poll(io);
  CHECK_FALSE(waiting->finished);
  cancel.emit(asio::cancellation_type::terminal);
  poll(io);
  REQUIRE(waiting->finished);
  CHECK_FALSE(waiting->key.has_value());
  CHECK_FALSE(other->finished);
  queue.add("a");
  poll(io);
  REQUIRE(other->finished);
  CHECK(other->key == "a");
}

TEST_CASE("destroying the queue releases a waiting worker", "[work_queue]") {
  asio::io_context io;
  auto queue = std::make_unique<WorkQueue>(io.get_executor());
  queue->add_after("a", 1h);
  const auto waiting = spawn_get(io, *queue);
  poll(io);
  CHECK_FALSE(waiting->finished);
  queue.reset();
  poll(io);
  REQUIRE(waiting->finished);
  CHECK_FALSE(waiting->key.has_value());
}

TEST_CASE("many workers: every key is handed out once", "[work_queue]") {
  asio::io_context io;
  WorkQueue queue(io.get_executor());
  std::vector<std::shared_ptr<PendingGet>> workers;
  for (int i = 0; i < 8; ++i) workers.push_back(spawn_get(io, queue));
  poll(io);
  for (int i = 0; i < 5; ++i) queue.add("k" + std::to_string(i));
  queue.add("k0");
  poll(io);
  std::set<std::string> handed_out;
  int finished = 0;
  for (const auto& w : workers) {
    if (!w->finished) continue;
    ++finished;
    REQUIRE(w->key.has_value());
    CHECK(handed_out.insert(*w->key).second);
  }
  CHECK(finished == 5);
  CHECK(handed_out.size() == 5);
  queue.shut_down();
  poll(io);
}

TEST_CASE("unfinished work and the longest-running reconcile are measured while a key is processed",
          "[work_queue]") {
  asio::io_context io;
  jarvis::metrics::Registry registry;
  ControllerMetrics metrics(registry);
  WorkQueue queue(io.get_executor(), RetryBackoff{}, &metrics.workqueue);
  queue.add("a");
  queue.add("b");
  REQUIRE(get_within(io, queue) == "a");
  REQUIRE(get_within(io, queue) == "b");
  const auto started = Clock::now();
  while (Clock::now() - started < 20ms) io.run_one_for(1ms);  // the two reconciles run for a while
  queue.update_unfinished_work();
  const double longest = metrics.workqueue.longest_running_processor.value();
  CHECK(longest >= 0.02);
  CHECK(metrics.workqueue.unfinished_work.value() >= 2 * 0.02);
  CHECK(metrics.workqueue.unfinished_work.value() >= longest);
  queue.done("a");
  queue.done("b");
  queue.update_unfinished_work();
  CHECK(metrics.workqueue.unfinished_work.value() == 0);
  CHECK(metrics.workqueue.longest_running_processor.value() == 0);
}
