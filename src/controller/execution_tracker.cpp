#include "controller/execution_tracker.hpp"

#include <algorithm>

#include <boost/asio/this_coro.hpp>
#include <grpcpp/support/status_code_enum.h>

#include "common/backoff.hpp"
#include "common/coro.hpp"
#include "controller/command_status.hpp"

namespace jarvis::controller {

namespace asio = boost::asio;

namespace {

// The agent connector (agent_connector.hpp) terminates the agents' TLS itself and says so in the error's kind;
// the message is only for people.
bool tls_failure(const Error& e) { return e.kind == ErrorKind::tls_handshake; }

constexpr std::string_view tls_advice =
    "; the controller and the agents must use the same Jarvis CA: check Secrets jarvis-ca and jarvis-agent-tls "
    "in the agents' namespace, that the agent mounts the current jarvis-agent-tls, and that neither side runs "
    "with --insecure alone";

std::string_view reason_for(const NodeOutcome& o) {
  switch (o.ending) {
    case NodeOutcome::Ending::exited: return reason::exited;
    case NodeOutcome::Ending::signaled: return reason::signaled;
    case NodeOutcome::Ending::timed_out: return reason::timed_out;
    case NodeOutcome::Ending::canceled: return reason::canceled;
    case NodeOutcome::Ending::start_failed: return reason::start_failed;
    case NodeOutcome::Ending::interrupted: return reason::interrupted;
    case NodeOutcome::Ending::agent_error: return reason::agent_unreachable;
  }
  return reason::exited;
}

TrackerResult finished(const jarvis::v1::Execution& e, NodeOutcome o) {
  TrackerResult r{std::move(o), e, {}};
  r.reason = std::string(reason_for(r.outcome));
  return r;
}

TrackerResult failure(std::string_view why, std::string detail) {
  return TrackerResult{agent_error_outcome(std::move(detail)), std::nullopt, std::string(why)};
}

TrackerResult unreachable(const TrackedExecution& run, const Error& err) {
  if (tls_failure(err))
    return failure(reason::agent_tls_failed, "TLS handshake with agent " + run.address + " of node " + run.node +
                                                 " failed: " + err.message + std::string(tls_advice));
  return failure(reason::agent_unreachable,
                 "agent " + run.address + " of node " + run.node + " did not answer: " + err.message);
}

}  // namespace

bool transient_agent_error(const Error& e) {
  return e.code == grpc::StatusCode::UNAVAILABLE || e.code == grpc::StatusCode::DEADLINE_EXCEEDED ||
         e.code == grpc::StatusCode::RESOURCE_EXHAUSTED;
}

TrackerResult start_failure(const TrackedExecution& run, const Error& err) {
  if (transient_agent_error(err)) return unreachable(run, err);
  if (err.code == grpc::StatusCode::NOT_FOUND) {
    // Only a resumed Start gets this: the agent's journal does not reach back to the dispatch (the node was
    // re-imaged, or the record expired), so whether it ran is unknowable. Not run again.
    return failure(reason::lost, "agent " + run.address + " of node " + run.node + " has no record of execution " +
                                     run.execution_id + " and cannot tell whether it ran: " + err.message);
  }
  return failure(reason::start_failed, "agent " + run.address + " refused the command: " + err.message);
}

asio::awaitable<std::optional<TrackerResult>> track_execution(AgentApi& agents, TrackedExecution run,
                                                              TrackerTiming timing, Logger& log) {
  const auto cs = co_await asio::this_coro::cancellation_state;
  Backoff backoff(timing.retry_backoff, timing.max_retry_backoff);
  auto failing_since = std::optional<std::chrono::steady_clock::time_point>{};
  // Whether a failure has lasted long enough to report the agent unreachable.
  const auto given_up = [&] {
    const auto now = std::chrono::steady_clock::now();
    if (!failing_since) failing_since = now;
    return now - *failing_since >= timing.unreachable_after;
  };

  for (;;) {
    auto started = co_await agents.start(run.address, run.start, timing.rpc_deadline);
    if (is_cancelled(cs)) co_return std::nullopt;
    if (started) {
      if (auto o = outcome_of(*started, run.timeout_seconds)) co_return finished(*started, std::move(*o));
      break;
    }
    const Error& err = started.error();
    if (!transient_agent_error(err) || given_up()) {
      log.warn("could not start execution on agent",
               {{"command", run.command_key}, {"node", run.node}, {"execution_id", run.execution_id},
                {"agent", run.address}, {"error", err.message}, {"resume", run.start.resume()}});
      co_return start_failure(run, err);
    }
    log.debug("start failed, retrying", {{"execution_id", run.execution_id}, {"agent", run.address},
                                         {"error", err.message}});
    const bool slept = co_await sleep_for(backoff.next());
    if (!slept) co_return std::nullopt;
  }

  failing_since.reset();
  backoff.reset();
  for (;;) {
    auto waited = co_await agents.wait(run.address, run.execution_id, timing.wait_poll,
                                       timing.wait_poll + timing.rpc_deadline);
    if (is_cancelled(cs)) co_return std::nullopt;
    if (waited) {
      failing_since.reset();
      backoff.reset();
      if (auto o = outcome_of(*waited, run.timeout_seconds)) co_return finished(*waited, std::move(*o));
      continue;
    }
    const Error& err = waited.error();
    if (err.code == grpc::StatusCode::NOT_FOUND) {
      // The agent accepted the Start, so its journal has the id; forgetting it means the journal was lost
      // (state directory wiped) or the result expired before it was collected.
      co_return failure(reason::lost, "agent " + run.address + " of node " + run.node +
                                          " no longer has a record of execution " + run.execution_id +
                                          " (its journal was wiped or the result expired); not run again");
    }
    if (given_up()) co_return unreachable(run, err);
    log.debug("waiting for execution failed, retrying",
              {{"execution_id", run.execution_id}, {"agent", run.address}, {"error", err.message}});
    const bool slept = co_await sleep_for(backoff.next());
    if (!slept) co_return std::nullopt;
  }
}

}  // namespace jarvis::controller
