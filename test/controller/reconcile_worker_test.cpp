// The reconcile worker on a real io_context and work queue: a reconcile that throws is caught, counted and
// retried with backoff, and neither its key nor the worker is lost.
#include <catch2/catch.hpp>

#include <map>
#include <stdexcept>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include "common/coro.hpp"
#include "controller/reconcile_worker.hpp"
#include "metrics/registry.hpp"
#include "support/run_until.hpp"

using namespace jarvis;
using namespace jarvis::controller;
namespace asio = boost::asio;
using namespace std::chrono_literals;

TEST_CASE("a reconcile that throws is retried with backoff and the worker goes on", "[reconcile_worker]") {
  asio::io_context io;
  metrics::Registry registry;
  ControllerMetrics metrics(registry);
  WorkQueue queue(io.get_executor(), RetryBackoff{10ms, 100ms}, &metrics.workqueue);
  std::FILE* sink = std::tmpfile();
  Logger log(LogLevel::error, sink);
  std::map<std::string, int> calls;
  bool worker_ended = false;
  auto reconcile = [&](const std::string& key) -> asio::awaitable<ReconcileResult> {
    const int call = ++calls[key];
    if (key == "ns/bad" && call <= 2) throw std::logic_error("a bug in the reconcile of " + key);
    co_return ReconcileResult::done();
  };
  asio::co_spawn(io, run_reconcile_worker(queue, reconcile, &metrics, log), [&](std::exception_ptr failure) {
    worker_ended = true;
    if (failure) std::rethrow_exception(failure);
  });

  queue.add("ns/bad");
  queue.add("ns/good");
  // The bad key comes back after its backoff (twice), the other key is reconciled by the same, only worker.
  REQUIRE(test::run_until(io, [&] { return calls["ns/bad"] == 3 && calls["ns/good"] == 1; }, 10s));
  CHECK_FALSE(worker_ended);
  CHECK(metrics.reconcile_panics.value() == 2);
  CHECK(metrics.reconcile_errors.value() == 2);
  CHECK(metrics.workqueue.retries.value() == 2);
  CHECK(metrics.active_workers.value() == 0);
  CHECK(queue.failures("ns/bad") == 0);  // forgotten after the reconcile that succeeded

  // The key was not left "processing": a later add reconciles it again.
  queue.add("ns/bad");
  REQUIRE(test::run_until(io, [&] { return calls["ns/bad"] == 4; }, 5s));

  // The log line names the key and the exception.
  std::fflush(sink);
  std::rewind(sink);
  std::string logged;
  char buffer[4096];
  while (const std::size_t n = std::fread(buffer, 1, sizeof buffer, sink)) logged.append(buffer, n);
  CHECK(logged.find("\"command\":\"ns/bad\"") != std::string::npos);
  CHECK(logged.find("a bug in the reconcile of ns/bad") != std::string::npos);
  std::fclose(sink);

  queue.shut_down();
  REQUIRE(test::run_until(io, [&] { return worker_ended; }, 5s));
}

TEST_CASE("a reconcile giving up until the Command changes counts as a terminal error", "[reconcile_worker]") {
  asio::io_context io;
  metrics::Registry registry;
  ControllerMetrics metrics(registry);
  WorkQueue queue(io.get_executor(), RetryBackoff{10ms, 100ms}, &metrics.workqueue);
  Logger log(LogLevel::error, std::tmpfile());
  int calls = 0;
  auto reconcile = [&](const std::string&) -> asio::awaitable<ReconcileResult> {
    ++calls;
    co_return ReconcileResult::terminal();
  };
  asio::co_spawn(io, run_reconcile_worker(queue, reconcile, &metrics, log), report_failure(log, "worker"));
  queue.add("ns/malformed");
  REQUIRE(test::run_until(io, [&] { return calls == 1 && metrics.terminal_reconcile_errors.value() == 1; }, 5s));
  CHECK(metrics.workqueue.retries.value() == 0);  // not retried
  queue.shut_down();
  io.run_for(100ms);
}
