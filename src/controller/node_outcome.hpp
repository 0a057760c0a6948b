// How one node's run of a Command ended, in the terms the user is told (event type and last line). Kept
// apart from the wire Execution because some endings (agent unreachable, execution lost) never come from
// an agent.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "jarvis.pb.h"

namespace jarvis::controller {

struct NodeOutcome {
  enum class Ending {
    exited,        // exit_code valid; the only ending that can be a success (exit code 0)
    signaled,      // killed by `signal`, not by the agent
    timed_out,     // killed by the agent after timeout_seconds
    canceled,      // killed by the agent on request (Command deleted)
    start_failed,  // never ran: detail says why
    interrupted,   // the agent stopped while it ran (crash, node reboot): it may have run partly
    agent_error,   // the controller could not get a result: detail says why (unreachable, lost, ...)
  };
  Ending ending = Ending::exited;
  int exit_code = 0;
  int signal = 0;
  std::uint32_t timeout_seconds = 0;
  std::string detail;
  std::string output;  // raw bytes as the agent kept them
  bool succeeded() const { return ending == Ending::exited && exit_code == 0; }
};

// The outcome an agent reported; nullopt while the execution is still running (or its state is unknown).
// `timeout_seconds` is what the controller asked for: the agent reports a timeout without the duration.
std::optional<NodeOutcome> outcome_of(const jarvis::v1::Execution& execution, std::uint32_t timeout_seconds);

// An outcome for a node the controller could not get a result from.
NodeOutcome agent_error_outcome(std::string detail);

}  // namespace jarvis::controller
