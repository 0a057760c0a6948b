#include "controller/controller_metrics.hpp"

namespace jarvis::controller {

using metrics::Registry;

namespace {

WorkQueueMetrics workqueue_metrics(Registry& r, std::string_view name) {
  return WorkQueueMetrics{
      .depth = r.gauge("workqueue_depth", "Current depth of workqueue", {"name"}).with({name}),
      .adds = r.counter("workqueue_adds_total", "Total number of adds handled by workqueue", {"name"}).with({name}),
      .queue_duration = r.histogram("workqueue_queue_duration_seconds",
                                    "How long in seconds an item stays in workqueue before being requested",
                                    metrics::workqueue_buckets(), {"name"})
                            .with({name}),
      .work_duration = r.histogram("workqueue_work_duration_seconds",
                                   "How long in seconds processing an item from workqueue takes",
                                   metrics::workqueue_buckets(), {"name"})
                           .with({name}),
      .retries = r.counter("workqueue_retries_total", "Total number of retries handled by workqueue", {"name"})
                     .with({name}),
      .unfinished_work = r.gauge("workqueue_unfinished_work_seconds",
                                 "How many seconds of work has been done that is in progress and hasn't been "
                                 "observed by work_duration. Large values indicate stuck threads.",
                                 {"name"})
                             .with({name}),
      .longest_running_processor = r.gauge("workqueue_longest_running_processor_seconds",
                                           "How many seconds has the longest running processor for workqueue been "
                                           "running.",
                                           {"name"})
                                       .with({name}),
  };
}

}  // namespace

std::string_view to_string(ExecutionResult result) {
  switch (result) {
    case ExecutionResult::succeeded: return "succeeded";
    case ExecutionResult::failed: return "failed";
    case ExecutionResult::signaled: return "signaled";
    case ExecutionResult::timed_out: return "timed_out";
    case ExecutionResult::canceled: return "canceled";
    case ExecutionResult::start_failed: return "start_failed";
    case ExecutionResult::interrupted: return "interrupted";
    case ExecutionResult::agent_error: return "agent_error";
  }
  return "failed";
}

ControllerMetrics::ControllerMetrics(Registry& r)
    : reconcile_total(r.counter("controller_runtime_reconcile_total",
                                "Total number of reconciliations per controller", {"controller", "result"})),
      reconcile_errors(r.counter("controller_runtime_reconcile_errors_total",
                                 "Total number of reconciliation errors per controller", {"controller"})
                           .with({controller_name})),
      reconcile_time(r.histogram("controller_runtime_reconcile_time_seconds",
                                 "Length of time per reconciliation per controller", metrics::reconcile_time_buckets(),
                                 {"controller"})
                         .with({controller_name})),
      reconcile_panics(r.counter("controller_runtime_reconcile_panics_total",
                                 "Total number of reconciliation panics per controller (a reconcile that threw)",
                                 {"controller"})
                           .with({controller_name})),
      terminal_reconcile_errors(r.counter("controller_runtime_terminal_reconcile_errors_total",
                                          "Total number of terminal reconciliation errors per controller",
                                          {"controller"})
                                    .with({controller_name})),
      active_workers(r.gauge("controller_runtime_active_workers",
                             "Number of currently used workers per controller", {"controller"})
                         .with({controller_name})),
      max_concurrent_reconciles(r.gauge("controller_runtime_max_concurrent_reconciles",
                                        "Maximum number of concurrent reconciles per controller", {"controller"})
                                    .with({controller_name})),
      workqueue(workqueue_metrics(r, controller_name)),
      rest_client_requests(r.counter("rest_client_requests_total",
                                     "Number of HTTP requests to the API server, partitioned by status code, "
                                     "method, and host (code \"<error>\": no answer)",
                                     {"code", "method", "host"})),
      leader_election_master_status(r.gauge("leader_election_master_status",
                                            "Gauge of if the reporting system is master of the relevant lease, 0 "
                                            "indicates backup, 1 indicates master. 'name' is the string used to "
                                            "identify the lease.",
                                            {"name"})),
      executions(r.counter("jarvis_controller_executions_total",
                           "Executions whose result the controller collected (or gave up on), by result",
                           {"result"})),
      executions_in_flight(r.gauge("jarvis_controller_executions_in_flight",
                                   "Executions the controller is following on agents right now")
                               .with({})),
      agent_rpc_duration(r.histogram("jarvis_agent_rpc_duration_seconds",
                                     "Latency of the controller's gRPC calls to agents, by method and gRPC status "
                                     "code (Wait is a long poll: up to 25 s by design)",
                                     metrics::rpc_latency_buckets(), {"method", "code"})),
      events_written(r.counter("jarvis_events_written_total", "Events the controller created").with({})),
      events_failed(r.counter("jarvis_events_failed_total",
                              "Events the controller could not create (after the client's retries)")
                        .with({})),
      events_queued(r.gauge("jarvis_events_queued", "Events handed to the event poster and not yet answered")
                        .with({})),
      events_queued_bytes(r.gauge("jarvis_events_queued_bytes", "Bytes of the messages of the events queued")
                              .with({})),
      events_oldest_queued_seconds(r.gauge("jarvis_events_oldest_queued_seconds",
                                           "How long the oldest event queued has waited to be posted")
                                       .with({})),
      events_deferred(r.counter("jarvis_events_deferred_total",
                                "Events not queued because the queue was full; they stay owed in the Command's "
                                "status and are posted once it drains")
                          .with({})),
      status_writes(r.counter("jarvis_status_writes_total", "Command status writes that succeeded").with({})),
      status_write_conflicts(r.counter("jarvis_status_write_conflicts_total",
                                       "Command status writes refused with 409 Conflict (a stale cache: decided "
                                       "again)")
                                 .with({})),
      output_bytes(r.counter("jarvis_controller_output_bytes_total",
                             "Bytes of command output received from agents in results")
                       .with({})),
      tls_handshake_failures(r.counter("jarvis_tls_handshake_failures_total",
                                       "TLS handshakes with agents that failed, by reason", {"reason"})) {
  for (const auto* result : {"success", "error", "requeue", "requeue_after"})
    reconcile_total.with({controller_name, result});
}

void ControllerMetrics::count_execution(ExecutionResult result, std::size_t output_bytes_received) {
  executions.with({to_string(result)}).inc();
  output_bytes.inc(static_cast<double>(output_bytes_received));
}

}  // namespace jarvis::controller
