#include "agent/execution_registry.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "agent/execution_proto.hpp"
#include "agent/process_identity.hpp"
#include "common/coro.hpp"
#include "common/time_format.hpp"

namespace jarvis::agent {

namespace {

constexpr std::string_view canceled_before_start = "canceled before it started";
constexpr std::string_view canceled_by_shutdown =
    "the agent began shutting down while this execution was being recorded; it was not started";

// A journal job's outcome, with what the journal then says of its finished records' share.
struct Recorded {
  Status status = Ok{};
  bool over_budget = false;
};

}  // namespace

ExecutionRegistry::ExecutionRegistry(asio::any_io_executor executor, ExecutionEnvironment environment,
                                     RegistryLimits limits, ExecutionJournal& journal, Logger& log,
                                     AgentMetrics* metrics)
    : executor_(executor),
      environment_(std::move(environment)),
      limits_(limits),
      metrics_(metrics),
      journal_(journal),
      log_(log),
      idle_(executor),
      journal_over_budget_(journal.finished_over_budget()),
      worker_(journal) {
  recover();
}

void ExecutionRegistry::recover() {
  // Before any job: the worker has not touched the journal yet.
  for (auto& recovered : journal_.take_recovered()) {
    if (recovered.status.node_name.empty()) recovered.status.node_name = environment_.node_name;
    if (recovered.shell && kill_group_if_still_running(*recovered.shell))
      log_.warn("killed what was left of an interrupted execution (its process group)",
                {{"execution_id", recovered.status.execution_id}, {"pid", recovered.shell->pid}});
    const std::string id = recovered.status.execution_id;
    executions_.insert_or_assign(id, Execution::recorded(executor_, std::move(recovered.status), log_));
    finished_order_.emplace_back(executions_.at(id)->finished_at(), id);
  }
  forget_expired();
}

asio::awaitable<void> ExecutionRegistry::until_recorded(const std::string& id) {
  const auto recording = recording_.find(id);
  if (recording == recording_.end()) co_return;
  const std::shared_ptr<asio::steady_timer> settled = recording->second;
  co_await settled->async_wait(asio::as_tuple(asio::use_awaitable));
}

void ExecutionRegistry::settle_recording(const std::string& id) {
  const auto recording = recording_.find(id);
  if (recording == recording_.end()) return;
  recording->second->cancel();
  recording_.erase(recording);
}

void ExecutionRegistry::notify_if_idle() {
  if (running_ == 0 && starting_ == 0) idle_.cancel();
}

asio::awaitable<Result<ExecutionRegistry::Started>> ExecutionRegistry::start(ExecutionSpec spec,
                                                                             StartDispatch dispatch) {
  for (;;) {
    forget_expired();
    if (auto known = executions_.find(spec.id); known != executions_.end())
      co_return Started{known->second, false};
    if (!recording_.contains(spec.id)) break;
    co_await until_recorded(spec.id);
  }
  if (shutting_down_)
    co_return Error{"the agent on node " + environment_.node_name + " is shutting down and starts nothing new",
                    static_cast<int>(StartRefusal::shutting_down)};
  if (running_ + starting_ >= limits_.max_running)
    co_return Error{"node " + environment_.node_name + " is already running " + std::to_string(running_ + starting_) +
                        " executions, the most it runs at once (--max-concurrent); retry later",
                    static_cast<int>(StartRefusal::too_many_running)};

  const std::string id = spec.id;
  recording_.emplace(id, std::make_shared<asio::steady_timer>(executor_, asio::steady_timer::time_point::max()));
  ++starting_;
  // The horizon is looked at where the record is written: nothing can move it in between.
  const auto accepted_at = std::chrono::system_clock::now();
  const Recorded accepted = co_await worker_.run([&spec, dispatch, accepted_at](ExecutionJournal& journal) {
    if (const auto& horizon = journal.horizon(); dispatch.resume && horizon.unix_ms >= dispatch.dispatched_unix_ms)
      return Recorded{
          Error{"no record of execution " + spec.id + ", and this agent's journal at " + journal.path().string() +
                    " only covers executions since " + rfc3339_micros(from_unix_ms(horizon.unix_ms)) + " (" +
                    horizon.reason + "), not its dispatch at " +
                    rfc3339_micros(from_unix_ms(dispatch.dispatched_unix_ms)) +
                    ": it may have run before; not started again",
                static_cast<int>(StartRefusal::beyond_journal_horizon)},
          journal.finished_over_budget()};
    if (auto recorded = journal.record_accepted(spec, accepted_at); !recorded)
      return Recorded{Error{"cannot record execution " + spec.id + " in the journal " + journal.path().string() +
                                ": " + recorded.error().message + "; the command was not started",
                            static_cast<int>(StartRefusal::journal_unwritable)},
                      journal.finished_over_budget()};
    return Recorded{Ok{}, journal.finished_over_budget()};
  });
  --starting_;
  journal_over_budget_ = accepted.over_budget;
  if (!accepted.status) {
    settle_recording(id);
    notify_if_idle();
    co_return accepted.status.error();
  }

  std::shared_ptr<Execution> execution;
  if (shutting_down_) {
    // Journaled as accepted: it must end as final, and nothing new runs once the agent is stopping.
    ExecutionStatus status;
    status.execution_id = id;
    status.node_name = environment_.node_name;
    status.command = spec.command;
    status.state = ExecutionState::canceled;
    status.start_time = accepted_at;
    status.end_time = std::chrono::system_clock::now();
    status.reason = canceled_by_shutdown;
    execution = Execution::recorded(executor_, std::move(status), log_);
  } else {
    execution = Execution::start(executor_, std::move(spec), environment_, log_,
                                 [this](const Execution& finished) { on_finished(finished); });
  }
  executions_.emplace(id, execution);
  settle_recording(id);
  if (execution->finished()) {
    if (metrics_) metrics_->count_finished(execution->status());
    record_later([status = execution->status()](ExecutionJournal& journal) { return journal.record_finished(status); },
                 id, "after an agent restart it is reported interrupted");
    finished_order_.emplace_back(execution->finished_at(), id);
    forget_expired();
  } else {
    ++running_;
    if (metrics_) metrics_->executions_in_flight.set(static_cast<double>(running_));
    if (const auto shell = identify_process(execution->process_group())) {
      record_later([id, shell = *shell](ExecutionJournal& journal) { return journal.record_spawned(id, shell); }, id,
                   "an agent restart could not kill what is left of it");
    }
  }
  notify_if_idle();
  co_return Started{std::move(execution), true};
}

std::shared_ptr<Execution> ExecutionRegistry::find(const std::string& id) {
  forget_expired();
  const auto it = executions_.find(id);
  return it == executions_.end() ? nullptr : it->second;
}

asio::awaitable<Result<std::shared_ptr<Execution>>> ExecutionRegistry::cancel(std::string id) {
  for (;;) {
    if (auto execution = find(id)) {
      execution->cancel();
      co_return execution;
    }
    if (!recording_.contains(id)) break;
    co_await until_recorded(id);
  }
  ExecutionStatus tombstone;
  tombstone.execution_id = id;
  tombstone.node_name = environment_.node_name;
  tombstone.state = ExecutionState::canceled;
  tombstone.start_time = std::chrono::system_clock::now();
  tombstone.end_time = tombstone.start_time;
  tombstone.reason = canceled_before_start;
  recording_.emplace(id, std::make_shared<asio::steady_timer>(executor_, asio::steady_timer::time_point::max()));
  const Recorded recorded = co_await worker_.run([&tombstone](ExecutionJournal& journal) {
    auto written = journal.record_finished(tombstone);
    return Recorded{std::move(written), journal.finished_over_budget()};
  });
  journal_over_budget_ = recorded.over_budget;
  if (!recorded.status) {
    settle_recording(id);
    co_return Error{"cannot record the cancellation of execution " + id + " in the journal " +
                        journal_.path().string() + ": " + recorded.status.error().message + "; retry the Cancel",
                    recorded.status.error().code};
  }
  log_.info("canceled before it started: a later Start of this id runs nothing", {{"execution_id", id}});
  auto execution = Execution::recorded(executor_, std::move(tombstone), log_);
  executions_.emplace(id, execution);
  settle_recording(id);
  finished_order_.emplace_back(execution->finished_at(), id);
  forget_expired();
  co_return execution;
}

void ExecutionRegistry::begin_shutdown() {
  shutting_down_ = true;
  for (auto& [id, execution] : executions_) {
    execution->cancel();
    execution->release_waiters();
  }
}

asio::awaitable<void> ExecutionRegistry::wait_until_idle() {
  while (running_ > 0 || starting_ > 0) {
    idle_.expires_at(asio::steady_timer::time_point::max());
    co_await idle_.async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

bool ExecutionRegistry::supervises(pid_t pid) const {
  for (const auto& [id, execution] : executions_)
    if (!execution->finished() && execution->process_group() == pid) return true;
  return false;
}

void ExecutionRegistry::on_finished(const Execution& execution) {
  --running_;
  notify_if_idle();
  if (metrics_) {
    metrics_->executions_in_flight.set(static_cast<double>(running_));
    metrics_->count_finished(execution.status());
  }
  record_later([status = execution.status()](ExecutionJournal& journal) { return journal.record_finished(status); },
               execution.id(), "after an agent restart it is reported interrupted");
  finished_order_.emplace_back(execution.finished_at(), execution.id());
  forget_expired();
}

void ExecutionRegistry::record_later(std::function<Status(ExecutionJournal&)> write, std::string execution_id,
                                     std::string_view consequence) {
  ++journal_writes_in_flight_;
  worker_.submit(
      [write = std::move(write)](ExecutionJournal& journal) {
        auto written = write(journal);
        return Recorded{std::move(written), journal.finished_over_budget()};
      },
      asio::bind_executor(executor_, [this, alive = std::weak_ptr<bool>(alive_), execution_id = std::move(execution_id),
                                      consequence = std::string(consequence)](std::exception_ptr failure,
                                                                              Recorded recorded) {
        if (alive.expired()) return;
        --journal_writes_in_flight_;
        if (failure) {
          log_.error("writing the journal failed inside the agent",
                     {{"execution_id", execution_id}, {"error", jarvis::describe(failure)}});
          return;
        }
        journal_over_budget_ = recorded.over_budget;
        if (!recorded.status)
          log_.error("cannot journal an execution's record; " + consequence,
                     {{"execution_id", execution_id},
                      {"journal", journal_.path().string()},
                      {"error", recorded.status.error().message}});
        if (journal_over_budget_) forget_expired();
      }));
}

// Oldest first, while there are too many, they are too old, or they take more than their share of the
// journal (the newest result is always kept, however large). The share is known from the journal thread:
// one result is evicted for it at a time, until that thread says the share is kept.
void ExecutionRegistry::forget_expired() {
  const auto oldest_kept = std::chrono::steady_clock::now() - limits_.retain_finished_for;
  std::vector<std::string> forgotten;
  const auto evict_oldest = [&] {
    executions_.erase(finished_order_.front().second);
    forgotten.push_back(std::move(finished_order_.front().second));
    finished_order_.pop_front();
  };
  while (!finished_order_.empty() &&
         (finished_order_.size() > limits_.max_retained_finished || finished_order_.front().first < oldest_kept))
    evict_oldest();
  if (journal_over_budget_ && !evicting_for_budget_ && finished_order_.size() > 1) {
    evict_oldest();
    evicting_for_budget_ = true;
  }
  if (forgotten.empty()) return;
  ++journal_writes_in_flight_;
  worker_.submit(
      [forgotten = std::move(forgotten)](ExecutionJournal& journal) {
        for (const auto& id : forgotten) journal.forget(id);
        auto written = journal.record_forgotten();
        return Recorded{std::move(written), journal.finished_over_budget()};
      },
      asio::bind_executor(executor_, [this, alive = std::weak_ptr<bool>(alive_)](std::exception_ptr failure,
                                                                                Recorded recorded) {
        if (alive.expired()) return;
        --journal_writes_in_flight_;
        evicting_for_budget_ = false;
        if (failure) {
          log_.error("writing the journal failed inside the agent", {{"error", jarvis::describe(failure)}});
          return;
        }
        journal_over_budget_ = recorded.over_budget;
        if (!recorded.status)
          log_.warn("cannot journal the eviction of old results; they are served again after an agent restart",
                    {{"journal", journal_.path().string()}, {"error", recorded.status.error().message}});
        if (journal_over_budget_) forget_expired();
      }));
}

}  // namespace jarvis::agent
