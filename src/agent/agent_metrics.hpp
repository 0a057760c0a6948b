// The agent's metrics, registered on the registry its run() creates. No label takes a value per execution
// or per Command. README, "Metrics".
#pragma once

#include "agent/execution_status.hpp"
#include "metrics/registry.hpp"

namespace jarvis::agent {

struct AgentMetrics {
  explicit AgentMetrics(metrics::Registry& registry);

  metrics::Family<metrics::Counter>& executions;  // {result}: how each execution this agent ran ended
  metrics::Gauge& executions_in_flight;
  metrics::Counter& output_bytes;  // bytes the commands printed (before --max-output-bytes trimmed them)
  metrics::Family<metrics::Counter>& tls_handshake_failures;  // {reason}

  void count_finished(const ExecutionStatus& status);
};

}  // namespace jarvis::agent
