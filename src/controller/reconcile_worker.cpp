#include "controller/reconcile_worker.hpp"

#include <chrono>
#include <exception>
#include <optional>

#include "common/coro.hpp"

namespace jarvis::controller {

namespace asio = boost::asio;

namespace {

// controller-runtime's reconcile metrics: a retry is an error (the reconcile failed and backs off); a panic
// counts as an error too.
void count(ControllerMetrics& metrics, const ReconcileResult& r, bool panicked,
           std::chrono::steady_clock::duration took) {
  metrics.reconcile_time.observe(std::chrono::duration<double>(took).count());
  std::string_view result = "success";
  if (panicked) {
    result = "error";
    metrics.reconcile_errors.inc();
    metrics.reconcile_panics.inc();
  } else if (r.kind == ReconcileResult::Kind::retry) {
    result = "error";
    metrics.reconcile_errors.inc();
  } else if (r.kind == ReconcileResult::Kind::requeue_after) {
    result = "requeue_after";
  }
  if (r.terminal_error) metrics.terminal_reconcile_errors.inc();
  metrics.reconcile_total.with({ControllerMetrics::controller_name, result}).inc();
}

// Keeps controller_runtime_active_workers right however the reconcile ends.
struct ActiveWorker {
  explicit ActiveWorker(ControllerMetrics* m) : metrics(m) {
    if (metrics) metrics->active_workers.inc();
  }
  ~ActiveWorker() {
    if (metrics) metrics->active_workers.dec();
  }
  ActiveWorker(const ActiveWorker&) = delete;
  ActiveWorker& operator=(const ActiveWorker&) = delete;
  ControllerMetrics* metrics;
};

}  // namespace

asio::awaitable<void> run_reconcile_worker(WorkQueue& queue, ReconcileFunction reconcile, ControllerMetrics* metrics,
                                           Logger& log) {
  for (;;) {
    std::optional<std::string> key = co_await queue.get();
    if (!key) co_return;
    const auto began = std::chrono::steady_clock::now();
    ReconcileResult r = ReconcileResult::retry();
    bool panicked = false;
    {
      ActiveWorker active(metrics);
      try {
        r = co_await reconcile(*key);
      } catch (...) {
        // A stop (the worker's coroutine cancelled while suspended) is not a bug: leave, after done().
        const std::exception_ptr failure = std::current_exception();
        if (stopped_by_cancellation(failure)) {
          queue.done(*key);
          co_return;
        }
        panicked = true;
        log.error("reconcile failed with an exception (a bug); will retry with backoff",
                  {{"command", *key}, {"error", describe(failure)}, {"retries", queue.failures(*key)}});
      }
    }
    if (metrics) count(*metrics, r, panicked, std::chrono::steady_clock::now() - began);
    switch (r.kind) {
      case ReconcileResult::Kind::done: queue.forget(*key); break;
      case ReconcileResult::Kind::requeue_after: queue.add_after(*key, r.delay); break;
      case ReconcileResult::Kind::retry: queue.add_rate_limited(*key); break;
    }
    queue.done(*key);
  }
}

}  // namespace jarvis::controller
