#include "agent/execution_registry.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace jarvis::agent {

ExecutionRegistry::ExecutionRegistry(asio::any_io_executor executor, ExecutionEnvironment environment,
                                     RegistryLimits limits, Logger& log)
    : executor_(executor), environment_(std::move(environment)), limits_(limits), log_(log), idle_(executor) {}

Result<ExecutionRegistry::Started> ExecutionRegistry::start(ExecutionSpec spec) {
  forget_expired();
  if (auto known = executions_.find(spec.id); known != executions_.end()) return Started{known->second, false};
  if (shutting_down_)
    return Error{"the agent on node " + environment_.node_name + " is shutting down and starts nothing new",
                 static_cast<int>(StartRefusal::shutting_down)};
  if (running_ >= limits_.max_running)
    return Error{"node " + environment_.node_name + " is already running " + std::to_string(running_) +
                     " executions, the most it runs at once (--max-concurrent); retry later",
                 static_cast<int>(StartRefusal::too_many_running)};

  const std::string id = spec.id;
  auto execution = Execution::start(executor_, std::move(spec), environment_, log_,
                                    [this](const Execution& finished) { on_finished(finished); });
  executions_.emplace(id, execution);
  if (execution->finished()) {
    finished_order_.emplace_back(execution->finished_at(), id);
    forget_expired();
  } else {
    ++running_;
  }
  return Started{std::move(execution), true};
}

std::shared_ptr<Execution> ExecutionRegistry::find(const std::string& id) {
  forget_expired();
  const auto it = executions_.find(id);
  return it == executions_.end() ? nullptr : it->second;
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
  finished_order_.emplace_back(execution.finished_at(), execution.id());
  forget_expired();
}

void ExecutionRegistry::forget_expired() {
  const auto oldest_kept = std::chrono::steady_clock::now() - limits_.retain_finished_for;
  while (!finished_order_.empty() && (finished_order_.size() > limits_.max_retained_finished ||
                                      finished_order_.front().first < oldest_kept)) {
    executions_.erase(finished_order_.front().second);
    finished_order_.pop_front();
  }
}

}  // namespace jarvis::agent
