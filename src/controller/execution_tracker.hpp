// Follows one execution the Command's status records as dispatched, on its agent, until it ends: sends
// Start, then long-polls Wait until the agent reports a final state.
//
// Start is idempotent on the execution id and the agent keeps a durable journal of the ids it accepted, so
// sending it again is safe. A tracker resuming after a controller restart (resume = true) sends Start with
// `resume` and the time the status recorded the dispatch: an agent that has the execution answers with it;
// one that certainly never received it starts it now; one whose journal does not reach back that far
// answers NOT_FOUND and the node is reported Lost (it may have run; it is not run a second time).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include <boost/asio/awaitable.hpp>

#include "common/log.hpp"
#include "controller/agent_api.hpp"
#include "controller/node_outcome.hpp"
#include "jarvis.pb.h"

namespace jarvis::controller {

struct TrackedExecution {
  std::string command_key;  // "namespace/name" of the Command, for the logs
  std::string node;
  std::string address;      // host:port of the node's agent
  std::string execution_id;
  jarvis::v1::StartRequest start;  // with resume and dispatched_unix_ms set when resuming
  std::uint32_t timeout_seconds = 0;
};

struct TrackerTiming {
  std::chrono::milliseconds rpc_deadline{10'000};       // Start and Cancel
  std::chrono::milliseconds wait_poll{25'000};          // how long one Wait may be held by the agent
  std::chrono::milliseconds retry_backoff{1'000};       // first pause after a failed call, doubling
  std::chrono::milliseconds max_retry_backoff{5'000};
  // How long an agent may stay unreachable (Start or Wait failing) before the node is reported so.
  std::chrono::milliseconds unreachable_after{30'000};
};

struct TrackerResult {
  NodeOutcome outcome;
  std::optional<jarvis::v1::Execution> execution;  // what the agent last reported, when it answered
  std::string reason;                              // a status reason (command_status.hpp)
};

// Runs until the execution ended or the coroutine is cancelled (then returns nullopt).
boost::asio::awaitable<std::optional<TrackerResult>> track_execution(AgentApi& agents, TrackedExecution run,
                                                                     TrackerTiming timing, Logger& log);

// What a Start answered with `error` means for the node: a TLS failure, an agent that did not answer, an
// agent without a record of a resumed execution (Lost) or a refusal (StartFailed).
TrackerResult start_failure(const TrackedExecution& run, const Error& error);

// Whether a failed agent call is worth repeating (the agent may answer later).
bool transient_agent_error(const Error& error);

}  // namespace jarvis::controller
