// ExecutionRegistry: every execution this agent knows, by the id the controller chose.
//
// Start is idempotent: a known id never runs its command again. Every id is journaled (ExecutionJournal)
// before its command is spawned, so "known" survives the agent: at construction the registry takes over
// what the journal found (finished results, tombstones, interrupted executions, whose leftover process
// groups it kills). Finished executions are kept for a bounded time, count and journal size so a controller
// that restarted can still collect their results; running ones are bounded by max_running.
//
// The journal's disk work runs on a thread of its own (JournalWorker): a Start or a tombstoning Cancel
// awaits its record, durable, before it spawns or answers, while every other call goes on. An id whose
// record is being written is not known yet: a second Start or Cancel of it waits for the first to settle.
// Later records (the shell's pid, the result, evictions) are written in the order they happen, without
// holding anything back. Not thread-safe: used on the agent's single executor thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include "agent/agent_metrics.hpp"
#include "agent/execution.hpp"
#include "agent/execution_journal.hpp"
#include "agent/journal_worker.hpp"
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

  // `metrics` (optional) counts finished executions by result, their output, and those running. `journal`
  // is only touched on the registry's journal thread from here on (path() excepted), until the registry is
  // destroyed, which waits for the records submitted to be written.
  ExecutionRegistry(asio::any_io_executor executor, ExecutionEnvironment environment, RegistryLimits limits,
                    ExecutionJournal& journal, Logger& log, AgentMetrics* metrics = nullptr);
  ExecutionRegistry(const ExecutionRegistry&) = delete;
  ExecutionRegistry& operator=(const ExecutionRegistry&) = delete;

  // The execution with spec.id if known (running, retained, interrupted, a tombstone), else a new one,
  // journaled before it is spawned. Fails only with a StartRefusal code: too many running, shutting down,
  // a resumed start the journal cannot vouch for, or a journal that cannot be written.
  asio::awaitable<Result<Started>> start(ExecutionSpec spec, StartDispatch dispatch = {});
  // nullptr when the id is unknown or its result is no longer retained.
  std::shared_ptr<Execution> find(const std::string& id);
  // Cancels a known execution. An unknown id gets a journaled tombstone (canceled before it started), so a
  // Start of it arriving later never runs; fails only when that cannot be journaled.
  asio::awaitable<Result<std::shared_ptr<Execution>>> cancel(std::string id);

  // Cancels every running execution, releases every waiter and refuses new starts.
  void begin_shutdown();
  // Resumes once no execution is running nor being recorded. One waiter at a time.
  asio::awaitable<void> wait_until_idle();

  // Whether `pid` is the shell of an execution that is still running (its Execution will reap it).
  bool supervises(pid_t pid) const;

  std::size_t running() const { return running_; }
  std::size_t retained_finished() const { return finished_order_.size(); }
  // Journal records submitted and not yet written (nor failed).
  std::size_t journal_writes_in_flight() const { return journal_writes_in_flight_; }

 private:
  void recover();
  void on_finished(const Execution& execution);
  void forget_expired();
  asio::awaitable<void> until_recorded(const std::string& id);
  void settle_recording(const std::string& id);
  void notify_if_idle();
  // Writes a record on the journal thread without waiting for it; a failure is logged with `consequence`.
  void record_later(std::function<Status(ExecutionJournal&)> write, std::string execution_id,
                    std::string_view consequence);

  asio::any_io_executor executor_;
  ExecutionEnvironment environment_;
  RegistryLimits limits_;
  AgentMetrics* metrics_;
  ExecutionJournal& journal_;
  Logger& log_;
  std::unordered_map<std::string, std::shared_ptr<Execution>> executions_;
  // Finished execution ids, oldest first, with when they finished.
  std::deque<std::pair<std::chrono::steady_clock::time_point, std::string>> finished_order_;
  // Ids whose Accepted record or tombstone is being written, each with a timer cancelled once it settled.
  std::unordered_map<std::string, std::shared_ptr<asio::steady_timer>> recording_;
  std::size_t running_ = 0;
  std::size_t starting_ = 0;  // Starts whose record is being written (they count against max_running)
  asio::steady_timer idle_;   // cancelled when the last execution finishes or the last start settles
  bool shutting_down_ = false;
  // As the journal said after its last job: finished records take more than their share.
  bool journal_over_budget_ = false;
  bool evicting_for_budget_ = false;
  std::size_t journal_writes_in_flight_ = 0;
  // Completions of records written later look at this first: the registry may be gone by then.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  JournalWorker worker_;  // last: destroyed first, once its jobs have run
};

}  // namespace jarvis::agent
