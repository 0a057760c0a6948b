#include "controller/node_outcome.hpp"

namespace jarvis::controller {

std::optional<NodeOutcome> outcome_of(const jarvis::v1::Execution& execution, std::uint32_t timeout_seconds) {
  NodeOutcome out;
  out.exit_code = execution.exit_code();
  out.signal = execution.signal();
  out.timeout_seconds = timeout_seconds;
  out.detail = execution.reason();
  out.output = execution.output();
  switch (execution.state()) {
    case jarvis::v1::STATE_SUCCEEDED:
      out.ending = NodeOutcome::Ending::exited;
      break;
    case jarvis::v1::STATE_FAILED:
      out.ending = execution.exited() || execution.signal() == 0 ? NodeOutcome::Ending::exited
                                                                 : NodeOutcome::Ending::signaled;
      if (out.ending == NodeOutcome::Ending::exited && out.exit_code == 0) {
        // FAILED with exit code 0 contradicts the contract; never report it as a success.
        out.ending = NodeOutcome::Ending::agent_error;
        if (out.detail.empty()) out.detail = "the agent reported a failure without an exit code or signal";
      }
      break;
    case jarvis::v1::STATE_TIMED_OUT:
      out.ending = NodeOutcome::Ending::timed_out;
      break;
    case jarvis::v1::STATE_CANCELED:
      out.ending = NodeOutcome::Ending::canceled;
      break;
    case jarvis::v1::STATE_START_FAILED:
      out.ending = NodeOutcome::Ending::start_failed;
      break;
    case jarvis::v1::STATE_INTERRUPTED:
      out.ending = NodeOutcome::Ending::interrupted;
      break;
    default:
      return std::nullopt;
  }
  return out;
}

NodeOutcome agent_error_outcome(std::string detail) {
  NodeOutcome out;
  out.ending = NodeOutcome::Ending::agent_error;
  out.detail = std::move(detail);
  return out;
}

}  // namespace jarvis::controller
