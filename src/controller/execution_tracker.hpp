// Follows one dispatched execution on its agent until it ends: sends Start (only for a run the status
// already records as dispatched) or, after a controller restart, only waits for it; then long-polls Wait
// until the agent reports a final state. Never sends Start for a run it was asked to resume: whether the
// first Start reached the agent is unknown, and a second run is worse than a lost result.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include <boost/asio/awaitable.hpp>

#include "controller/agent_client.hpp"
#include "controller/node_outcome.hpp"
#include "jarvis.pb.h"

namespace jarvis::controller {

struct TrackedExecution {
  std::string command_key;  // "namespace/name" of the Command, to requeue it
  std::string node;
  std::string address;      // host:port of the node's agent
  std::string execution_id;
  bool resume = false;      // true: the run was dispatched before; never Start, only Wait
  jarvis::v1::StartRequest start;  // used when !resume
  std::uint32_t timeout_seconds = 0;
};

struct TrackerTiming {
  std::chrono::milliseconds rpc_deadline{10'000};       // Start and Cancel
  std::chrono::milliseconds wait_poll{25'000};          // how long one Wait may be held by the agent
  int start_attempts = 4;                               // Start tries while the agent is unavailable
  std::chrono::milliseconds retry_backoff{1'000};       // doubles per attempt
  // Consecutive Wait failures (agent unreachable) tolerated before the node is reported unreachable.
  std::chrono::milliseconds unreachable_after{30'000};
};

struct TrackerResult {
  NodeOutcome outcome;
  std::optional<jarvis::v1::Execution> execution;  // what the agent last reported, when it answered
  std::string reason;                              // a status reason (command_status.hpp)
};

// Runs until the execution ended or the coroutine is cancelled (then returns nullopt).
boost::asio::awaitable<std::optional<TrackerResult>> track_execution(AgentClient& agents, TrackedExecution run,
                                                                     TrackerTiming timing, Logger& log);

}  // namespace jarvis::controller
