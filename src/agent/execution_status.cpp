#include "agent/execution_status.hpp"

namespace jarvis::agent {

std::string_view to_string(ExecutionState state) {
  switch (state) {
    case ExecutionState::running: return "running";
    case ExecutionState::succeeded: return "succeeded";
    case ExecutionState::failed: return "failed";
    case ExecutionState::timed_out: return "timed_out";
    case ExecutionState::canceled: return "canceled";
    case ExecutionState::start_failed: return "start_failed";
    case ExecutionState::interrupted: return "interrupted";
  }
  return "unknown";
}

}  // namespace jarvis::agent
