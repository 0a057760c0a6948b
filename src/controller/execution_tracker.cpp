#include "controller/execution_tracker.hpp"

#include <algorithm>
#include <cctype>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <grpcpp/support/status_code_enum.h>

#include "controller/command_status.hpp"

namespace jarvis::controller {

namespace asio = boost::asio;

namespace {

// False when the wait was cancelled.
asio::awaitable<bool> pause(std::chrono::milliseconds d) {
  asio::steady_timer timer(co_await asio::this_coro::executor, d);
  auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
  co_return !ec;
}

bool transient(const Error& e) {
  return e.code == grpc::StatusCode::UNAVAILABLE || e.code == grpc::StatusCode::DEADLINE_EXCEEDED ||
         e.code == grpc::StatusCode::RESOURCE_EXHAUSTED;
}

// gRPC reports a failed TLS handshake (an unknown CA, a wrong identity, an expired certificate) as
// UNAVAILABLE, like a refused connection; its message names the handshake.
bool tls_failure(const Error& e) {
  if (e.code != grpc::StatusCode::UNAVAILABLE) return false;
  std::string text = e.message;
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
  return text.find("handshake") != std::string::npos || text.find("certificate") != std::string::npos ||
         text.find("ssl") != std::string::npos;
}

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

bool cancelled(const asio::cancellation_state& s) { return s.cancelled() != asio::cancellation_type::none; }

}  // namespace

asio::awaitable<std::optional<TrackerResult>> track_execution(AgentClient& agents, TrackedExecution run,
                                                              TrackerTiming timing, Logger& log) {
  const auto cs = co_await asio::this_coro::cancellation_state;
  if (!run.resume) {
    auto backoff = timing.retry_backoff;
    for (int attempt = 1;; ++attempt) {
      auto started = co_await agents.start(run.address, run.start, timing.rpc_deadline);
      if (cancelled(cs)) co_return std::nullopt;
      if (started) {
        if (auto o = outcome_of(*started, run.timeout_seconds)) co_return finished(*started, std::move(*o));
        break;
      }
      const Error& err = started.error();
      if (!transient(err) || attempt >= timing.start_attempts) {
        log.warn("could not start execution on agent",
                 {{"command", run.command_key}, {"node", run.node}, {"execution_id", run.execution_id},
                  {"agent", run.address}, {"error", err.message}, {"attempts", attempt}});
        if (tls_failure(err))
          co_return failure(reason::agent_tls_failed, "TLS handshake with agent " + run.address + " of node " +
                                                          run.node + " failed: " + err.message +
                                                          std::string(tls_advice));
        if (transient(err))
          co_return failure(reason::agent_unreachable,
                            "agent " + run.address + " of node " + run.node + " did not answer: " + err.message);
        co_return failure(reason::start_failed, "agent " + run.address + " refused the command: " + err.message);
      }
      if (!co_await pause(backoff)) co_return std::nullopt;
      backoff *= 2;
    }
  }

  auto failing_since = std::optional<std::chrono::steady_clock::time_point>{};
  auto backoff = timing.retry_backoff;
  for (;;) {
    auto waited = co_await agents.wait(run.address, run.execution_id, timing.wait_poll,
                                       timing.wait_poll + timing.rpc_deadline);
    if (cancelled(cs)) co_return std::nullopt;
    if (waited) {
      failing_since.reset();
      backoff = timing.retry_backoff;
      if (auto o = outcome_of(*waited, run.timeout_seconds)) co_return finished(*waited, std::move(*o));
      continue;
    }
    const Error& err = waited.error();
    if (err.code == grpc::StatusCode::NOT_FOUND) {
      // The agent does not know the run: it restarted, dropped the result after its retention time, or the
      // Start never reached it before this controller restarted. Not re-run: at most once per generation.
      co_return failure(reason::lost, "agent " + run.address + " of node " + run.node + " has no record of execution " +
                                          run.execution_id +
                                          " (agent restarted or result expired); not run again, to run at most "
                                          "once per generation");
    }
    const auto now = std::chrono::steady_clock::now();
    if (!failing_since) failing_since = now;
    if (now - *failing_since >= timing.unreachable_after) {
      if (tls_failure(err))
        co_return failure(reason::agent_tls_failed, "TLS handshake with agent " + run.address + " of node " +
                                                        run.node + " failed: " + err.message + std::string(tls_advice));
      co_return failure(reason::agent_unreachable,
                        "lost contact with agent " + run.address + " of node " + run.node + ": " + err.message);
    }
    log.debug("waiting for execution failed, retrying",
              {{"execution_id", run.execution_id}, {"agent", run.address}, {"error", err.message}});
    if (!co_await pause(backoff)) co_return std::nullopt;
    backoff = std::min(backoff * 2, std::chrono::milliseconds(5'000));
  }
}

}  // namespace jarvis::controller
