// One reconcile worker: takes Command keys from the work queue until it shuts down, reconciles each, and tells
// the queue what came of it (forget, requeue after a delay, retry with backoff), always followed by done().
// A reconcile that throws is a bug, but one Command's bug must not wedge that Command for the life of the
// process nor end the worker (controller-runtime recovers a panic at the same place): the exception is logged
// with the key, counted in controller_runtime_reconcile_panics_total, and the key retried with backoff.
#pragma once

#include <functional>
#include <string>

#include <boost/asio/awaitable.hpp>

#include "common/log.hpp"
#include "controller/controller_metrics.hpp"
#include "controller/error_policy.hpp"
#include "controller/work_queue.hpp"

namespace jarvis::controller {

using ReconcileFunction = std::function<boost::asio::awaitable<ReconcileResult>(const std::string& key)>;

// Runs until queue.get() returns nullopt (shut down, or this coroutine cancelled). `metrics` is optional.
boost::asio::awaitable<void> run_reconcile_worker(WorkQueue& queue, ReconcileFunction reconcile,
                                                  ControllerMetrics* metrics, Logger& log);

}  // namespace jarvis::controller
