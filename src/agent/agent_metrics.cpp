#include "agent/agent_metrics.hpp"

namespace jarvis::agent {


AgentMetrics::AgentMetrics(metrics::Registry& r)
    : executions(r.counter("jarvis_agent_executions_total",
                           "Executions this agent ran (or could not start), by how they ended", {"result"})),
      executions_in_flight(
          r.gauge("jarvis_agent_executions_in_flight", "Executions running on this agent right now").with({})),
      output_bytes(r.counter("jarvis_agent_output_bytes_total",
                             "Bytes the commands printed (stdout and stderr), before --max-output-bytes")
                       .with({})),
      tls_handshake_failures(r.counter("jarvis_tls_handshake_failures_total",
                                       "TLS connections this agent refused during the handshake, by reason",
                                       {"reason"})) {
  for (auto state : {ExecutionState::succeeded, ExecutionState::failed, ExecutionState::timed_out,
                     ExecutionState::canceled, ExecutionState::start_failed})
    executions.with({to_string(state)});
}

void AgentMetrics::count_finished(const ExecutionStatus& status) {
  executions.with({to_string(status.state)}).inc();
  output_bytes.inc(static_cast<double>(status.output_bytes_total));
}

}  // namespace jarvis::agent
