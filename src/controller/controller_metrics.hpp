// The controller's metrics, registered once on the registry main hands over. Names and labels follow
// controller-runtime and client-go (dashboards built for them work), plus Jarvis's own (jarvis_*). No label
// takes a value per node or per Command: the series stay as few as the fleet grows. README, "Metrics".
#pragma once

#include <string_view>

#include "metrics/registry.hpp"

namespace jarvis::controller {

// client-go's workqueue metrics for one queue (label name = the queue's name).
struct WorkQueueMetrics {
  metrics::Gauge& depth;
  metrics::Counter& adds;
  metrics::Histogram& queue_duration;  // seconds from add to get
  metrics::Histogram& work_duration;   // seconds from get to done
  metrics::Counter& retries;
  // Updated every half second (update_unfinished_work), as client-go does: seconds of work in progress not yet
  // observed by work_duration, and how long the longest-running reconcile has been running.
  metrics::Gauge& unfinished_work;
  metrics::Gauge& longest_running_processor;
};

// How a tracked execution ended, as the executions_total label says it.
enum class ExecutionResult { succeeded, failed, signaled, timed_out, canceled, start_failed, interrupted, agent_error };
std::string_view to_string(ExecutionResult result);

struct ControllerMetrics {
  static constexpr std::string_view controller_name = "command";  // controller-runtime's `controller` label

  explicit ControllerMetrics(metrics::Registry& registry);

  // controller-runtime
  metrics::Family<metrics::Counter>& reconcile_total;  // {controller, result}: success, error, requeue, requeue_after
  metrics::Counter& reconcile_errors;
  metrics::Histogram& reconcile_time;
  metrics::Counter& reconcile_panics;           // reconciles that threw (caught by the worker: a bug)
  metrics::Counter& terminal_reconcile_errors;  // reconciles that gave up until the Command changes
  metrics::Gauge& active_workers;               // reconciles running now
  metrics::Gauge& max_concurrent_reconciles;    // --workers
  WorkQueueMetrics workqueue;
  // client-go
  metrics::Family<metrics::Counter>& rest_client_requests;  // {code, method, host}
  metrics::Family<metrics::Gauge>& leader_election_master_status;  // {name}
  // Jarvis
  metrics::Family<metrics::Counter>& executions;  // {result}
  metrics::Gauge& executions_in_flight;
  metrics::Family<metrics::Histogram>& agent_rpc_duration;  // {method, code}
  metrics::Counter& events_written;
  metrics::Counter& events_failed;
  metrics::Gauge& events_queued;                 // handed over, not yet answered
  metrics::Gauge& events_queued_bytes;           // their messages
  metrics::Gauge& events_oldest_queued_seconds;  // how long the oldest of them has waited
  metrics::Counter& events_deferred;             // not queued (the queue was full): posted later from the status
  metrics::Counter& status_writes;
  metrics::Counter& status_write_conflicts;
  metrics::Counter& output_bytes;
  metrics::Family<metrics::Counter>& tls_handshake_failures;  // {reason}

  void count_execution(ExecutionResult result, std::size_t output_bytes_received);
  // The leader-election gauge of the Lease `lease_name`: 1 while this process leads (or runs without leader
  // election), 0 otherwise.
  void set_leader(std::string_view lease_name, bool leading) {
    leader_election_master_status.with({lease_name}).set(leading ? 1 : 0);
  }
};

}  // namespace jarvis::controller
