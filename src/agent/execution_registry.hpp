// ExecutionRegistry: every execution this agent knows, by the id the controller chose.
//
// Start is idempotent: a known id never runs its command again. Every id is journaled (ExecutionJournal)
// before its command is spawned, so "known" survives the agent: at construction the registry takes over
// what the journal found (finished results, tombstones, interrupted executions, whose leftover process
// groups it kills). Finished executions are kept for a bounded time, count and journal size so a controller
// that restarted can still collect their results; running ones are bounded by max_running. Not
// thread-safe: used on the agent's single executor thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include "agent/agent_metrics.hpp"
#include "agent/execution.hpp"
#include "agent/execution_journal.hpp"
#include "common/log.hpp"
#include "common/result.hpp"

namespace jarvis::agent {

struct RegistryLimits {
  std::size_t max_running = 64;
  std::size_t max_retained_finished = 1000;
  std::chrono::seconds retain_finished_for{86400};
};

// Why the registry refused to start an execution (Error::code of a failed start).
enum class StartRefusal : int {
  too_many_running = 1,
  shutting_down = 2,
  beyond_journal_horizon = 3,  // a resumed start of an id the journal might have forgotten
  journal_unwritable = 4,
};

// How the controller sent a Start (StartRequest.resume, StartRequest.dispatched_unix_ms).
struct StartDispatch {
  bool resume = false;
  std::int64_t dispatched_unix_ms = 0;
};

class ExecutionRegistry {
 public:
  struct Started {
    std::shared_ptr<Execution> execution;
    bool created;  // false: the id was already known and nothing was run
  };

  // `metrics` (optional) counts finished executions by result, their output, and those running.
  ExecutionRegistry(asio::any_io_executor executor, ExecutionEnvironment environment, RegistryLimits limits,
                    ExecutionJournal& journal, Logger& log, AgentMetrics* metrics = nullptr);
  ExecutionRegistry(const ExecutionRegistry&) = delete;
  ExecutionRegistry& operator=(const ExecutionRegistry&) = delete;

  // The execution with spec.id if known (running, retained, interrupted, a tombstone), else a new one,
  // journaled before it is spawned. Fails only with a StartRefusal code: too many running, shutting down,
  // a resumed start the journal cannot vouch for, or a journal that cannot be written.
  Result<Started> start(ExecutionSpec spec, StartDispatch dispatch = {});
  // nullptr when the id is unknown or its result is no longer retained.
  std::shared_ptr<Execution> find(const std::string& id);
  // Cancels a known execution. An unknown id gets a journaled tombstone (canceled before it started), so a
  // Start of it arriving later never runs; fails only when that cannot be journaled.
  Result<std::shared_ptr<Execution>> cancel(const std::string& id);

  // Cancels every running execution, releases every waiter and refuses new starts.
  void begin_shutdown();
  // Resumes once no execution is running. One waiter at a time.
  asio::awaitable<void> wait_until_idle();

  // Whether `pid` is the shell of an execution that is still running (its Execution will reap it).
  bool supervises(pid_t pid) const;

  std::size_t running() const { return running_; }
  std::size_t retained_finished() const { return finished_order_.size(); }

 private:
  void recover();
  void on_finished(const Execution& execution);
  void forget_expired();

  asio::any_io_executor executor_;
  ExecutionEnvironment environment_;
  RegistryLimits limits_;
  AgentMetrics* metrics_;
  ExecutionJournal& journal_;
  Logger& log_;
  std::unordered_map<std::string, std::shared_ptr<Execution>> executions_;
  // Finished execution ids, oldest first, with when they finished.
  std::deque<std::pair<std::chrono::steady_clock::time_point, std::string>> finished_order_;
  std::size_t running_ = 0;
  asio::steady_timer idle_;  // cancelled when the last running execution finishes
  bool shutting_down_ = false;
};

}  // namespace jarvis::agent
