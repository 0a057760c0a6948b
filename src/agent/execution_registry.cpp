#include "agent/execution_registry.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "agent/execution_proto.hpp"
#include "agent/process_identity.hpp"
#include "common/time_format.hpp"

namespace jarvis::agent {

namespace {

constexpr std::string_view canceled_before_start = "canceled before it started";

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
      idle_(executor) {
  recover();
}

void ExecutionRegistry::recover() {
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

Result<ExecutionRegistry::Started> ExecutionRegistry::start(ExecutionSpec spec, StartDispatch dispatch) {
  forget_expired();
  if (auto known = executions_.find(spec.id); known != executions_.end()) return Started{known->second, false};
  if (shutting_down_)
    return Error{"the agent on node " + environment_.node_name + " is shutting down and starts nothing new",
                 static_cast<int>(StartRefusal::shutting_down)};
  if (running_ >= limits_.max_running)
    return Error{"node " + environment_.node_name + " is already running " + std::to_string(running_) +
                     " executions, the most it runs at once (--max-concurrent); retry later",
                 static_cast<int>(StartRefusal::too_many_running)};
  if (const auto& horizon = journal_.horizon(); dispatch.resume && horizon.unix_ms >= dispatch.dispatched_unix_ms)
    return Error{"no record of execution " + spec.id + ", and this agent's journal at " + journal_.path().string() +
                     " only covers executions since " + rfc3339_micros(from_unix_ms(horizon.unix_ms)) + " (" +
                     horizon.reason + "), not its dispatch at " +
                     rfc3339_micros(from_unix_ms(dispatch.dispatched_unix_ms)) +
                     ": it may have run before; not started again",
                 static_cast<int>(StartRefusal::beyond_journal_horizon)};
  if (auto recorded = journal_.record_accepted(spec, std::chrono::system_clock::now()); !recorded)
    return Error{"cannot record execution " + spec.id + " in the journal " + journal_.path().string() + ": " +
                     recorded.error().message + "; the command was not started",
                 static_cast<int>(StartRefusal::journal_unwritable)};

  const std::string id = spec.id;
  auto execution = Execution::start(executor_, std::move(spec), environment_, log_,
                                    [this](const Execution& finished) { on_finished(finished); });
  executions_.emplace(id, execution);
  if (execution->finished()) {
    if (metrics_) metrics_->count_finished(execution->status());
    if (auto recorded = journal_.record_finished(execution->status()); !recorded)
      log_.error("cannot journal the result of an execution; after an agent restart it is reported interrupted",
                 {{"execution_id", id}, {"journal", journal_.path().string()}, {"error", recorded.error().message}});
    finished_order_.emplace_back(execution->finished_at(), id);
    forget_expired();
  } else {
    ++running_;
    if (metrics_) metrics_->executions_in_flight.set(static_cast<double>(running_));
    if (const auto shell = identify_process(execution->process_group())) {
      if (auto recorded = journal_.record_spawned(id, *shell); !recorded)
        log_.warn("cannot journal the pid of an execution; an agent restart could not kill what is left of it",
                  {{"execution_id", id}, {"journal", journal_.path().string()}, {"error", recorded.error().message}});
    }
  }
  return Started{std::move(execution), true};
}

std::shared_ptr<Execution> ExecutionRegistry::find(const std::string& id) {
  forget_expired();
  const auto it = executions_.find(id);
  return it == executions_.end() ? nullptr : it->second;
}

Result<std::shared_ptr<Execution>> ExecutionRegistry::cancel(const std::string& id) {
  if (auto execution = find(id)) {
    execution->cancel();
    return execution;
  }
  ExecutionStatus tombstone;
  tombstone.execution_id = id;
  tombstone.node_name = environment_.node_name;
  tombstone.state = ExecutionState::canceled;
  tombstone.start_time = std::chrono::system_clock::now();
  tombstone.end_time = tombstone.start_time;
  tombstone.reason = canceled_before_start;
  if (auto recorded = journal_.record_finished(tombstone); !recorded)
    return Error{"cannot record the cancellation of execution " + id + " in the journal " +
                     journal_.path().string() + ": " + recorded.error().message + "; retry the Cancel",
                 recorded.error().code};
  log_.info("canceled before it started: a later Start of this id runs nothing", {{"execution_id", id}});
  auto execution = Execution::recorded(executor_, std::move(tombstone), log_);
  executions_.emplace(id, execution);
  finished_order_.emplace_back(execution->finished_at(), id);
  forget_expired();
  return execution;
}

void ExecutionRegistry::begin_shutdown() {
  shutting_down_ = true;
  for (auto& [id, execution] : executions_) {
    execution->cancel();
    execution->release_waiters();
  }
}

asio::awaitable<void> ExecutionRegistry::wait_until_idle() {
  while (running_ > 0) {
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
  if (--running_ == 0) idle_.cancel();
  if (metrics_) {
    metrics_->executions_in_flight.set(static_cast<double>(running_));
    metrics_->count_finished(execution.status());
  }
  if (auto recorded = journal_.record_finished(execution.status()); !recorded)
    log_.error("cannot journal the result of an execution; after an agent restart it is reported interrupted",
               {{"execution_id", execution.id()},
                {"journal", journal_.path().string()},
                {"error", recorded.error().message}});
  finished_order_.emplace_back(execution.finished_at(), execution.id());
  forget_expired();
}

// Oldest first, while there are too many, they are too old, or they take more than their share of the
// journal (the newest result is always kept, however large).
void ExecutionRegistry::forget_expired() {
  const auto oldest_kept = std::chrono::steady_clock::now() - limits_.retain_finished_for;
  while (!finished_order_.empty() &&
         (finished_order_.size() > limits_.max_retained_finished || finished_order_.front().first < oldest_kept ||
          (journal_.finished_over_budget() && finished_order_.size() > 1))) {
    executions_.erase(finished_order_.front().second);
    journal_.forget(finished_order_.front().second);
    finished_order_.pop_front();
  }
  if (auto recorded = journal_.record_forgotten(); !recorded)
    log_.warn("cannot journal the eviction of old results; they are served again after an agent restart",
              {{"journal", journal_.path().string()}, {"error", recorded.error().message}});
}

}  // namespace jarvis::agent
