#include "agent/execution_proto.hpp"

namespace jarvis::agent {

namespace {

v1::State to_proto(ExecutionState state) {
  switch (state) {
    case ExecutionState::running: return v1::STATE_RUNNING;
    case ExecutionState::succeeded: return v1::STATE_SUCCEEDED;
    case ExecutionState::failed: return v1::STATE_FAILED;
    case ExecutionState::timed_out: return v1::STATE_TIMED_OUT;
    case ExecutionState::canceled: return v1::STATE_CANCELED;
    case ExecutionState::start_failed: return v1::STATE_START_FAILED;
    case ExecutionState::interrupted: return v1::STATE_INTERRUPTED;
  }
  return v1::STATE_UNSPECIFIED;
}

ExecutionState from_proto(v1::State state) {
  switch (state) {
    case v1::STATE_SUCCEEDED: return ExecutionState::succeeded;
    case v1::STATE_FAILED: return ExecutionState::failed;
    case v1::STATE_TIMED_OUT: return ExecutionState::timed_out;
    case v1::STATE_CANCELED: return ExecutionState::canceled;
    case v1::STATE_START_FAILED: return ExecutionState::start_failed;
    case v1::STATE_INTERRUPTED: return ExecutionState::interrupted;
    default: return ExecutionState::running;
  }
}

}  // namespace

std::int64_t unix_ms(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

std::chrono::system_clock::time_point from_unix_ms(std::int64_t ms) {
  return std::chrono::system_clock::time_point(std::chrono::milliseconds(ms));
}

ExecutionSpec to_spec(const v1::StartRequest& request, const RequestDefaults& defaults) {
  ExecutionSpec spec;
  spec.id = request.execution_id();
  spec.command = request.command();
  spec.timeout = request.timeout_seconds() == 0 ? defaults.timeout : std::chrono::seconds(request.timeout_seconds());
  spec.max_output_bytes = request.max_output_bytes() == 0 || request.max_output_bytes() > defaults.max_output_bytes
                              ? defaults.max_output_bytes
                              : static_cast<std::size_t>(request.max_output_bytes());
  spec.origin.namespace_name = request.origin().namespace_();
  spec.origin.name = request.origin().name();
  spec.origin.uid = request.origin().uid();
  spec.origin.generation = request.origin().generation();
  return spec;
}

void to_proto(const ExecutionStatus& status, v1::Execution& out) {
  out.set_execution_id(status.execution_id);
  out.set_node_name(status.node_name);
  out.set_state(to_proto(status.state));
  out.set_exited(status.exited);
  out.set_exit_code(status.exit_code);
  out.set_signal(status.signal);
  out.set_output(status.output);
  out.set_output_bytes_total(status.output_bytes_total);
  out.set_truncated(status.truncated);
  out.set_start_time_unix_ms(unix_ms(status.start_time));
  out.set_end_time_unix_ms(status.end_time ? unix_ms(*status.end_time) : 0);
  out.set_reason(status.reason);
  out.set_command(status.command);
}

ExecutionStatus from_proto(const v1::Execution& execution) {
  ExecutionStatus status;
  status.execution_id = execution.execution_id();
  status.node_name = execution.node_name();
  status.command = execution.command();
  status.state = from_proto(execution.state());
  status.exited = execution.exited();
  status.exit_code = execution.exit_code();
  status.signal = execution.signal();
  status.output = execution.output();
  status.output_bytes_total = execution.output_bytes_total();
  status.truncated = execution.truncated();
  status.start_time = from_unix_ms(execution.start_time_unix_ms());
  if (execution.end_time_unix_ms() != 0) status.end_time = from_unix_ms(execution.end_time_unix_ms());
  status.reason = execution.reason();
  return status;
}

}  // namespace jarvis::agent
