#include "controller/tracker_set.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>

#include "common/coro.hpp"

namespace jarvis::controller {

namespace asio = boost::asio;

namespace {

ExecutionResult result_of(const NodeOutcome& outcome) {
  switch (outcome.ending) {
    case NodeOutcome::Ending::exited: return outcome.exit_code == 0 ? ExecutionResult::succeeded : ExecutionResult::failed;
    case NodeOutcome::Ending::signaled: return ExecutionResult::signaled;
    case NodeOutcome::Ending::timed_out: return ExecutionResult::timed_out;
    case NodeOutcome::Ending::canceled: return ExecutionResult::canceled;
    case NodeOutcome::Ending::start_failed: return ExecutionResult::start_failed;
    case NodeOutcome::Ending::interrupted: return ExecutionResult::interrupted;
    case NodeOutcome::Ending::agent_error: return ExecutionResult::agent_error;
  }
  return ExecutionResult::failed;
}

}  // namespace

TrackerSet::TrackerSet(asio::any_io_executor executor, AgentApi& agents, TrackerTiming timing, Logger& log,
                       OnResult on_result, ControllerMetrics* metrics)
    : executor_(std::move(executor)),
      agents_(agents),
      timing_(timing),
      log_(log),
      on_result_(std::move(on_result)),
      metrics_(metrics) {}

void TrackerSet::count_running() const {
  if (metrics_) metrics_->executions_in_flight.set(static_cast<double>(trackers_.size()));
}

TrackerSet::~TrackerSet() {
  *alive_ = false;
  stop_all();
}

void TrackerSet::start(std::int64_t generation, TrackedExecution run) {
  const std::string id = run.execution_id;
  if (trackers_.contains(id)) return;
  auto signal = std::make_shared<asio::cancellation_signal>();
  trackers_[id] = Tracker{run.command_key, generation, signal};
  count_running();
  asio::co_spawn(executor_, track_execution(agents_, std::move(run), timing_, log_),
                 asio::bind_cancellation_slot(signal->slot(), [this, alive = alive_, id, signal](
                                                                  std::exception_ptr failure,
                                                                  std::optional<TrackerResult> result) {
                   if (*alive) finished(id, signal, failure, std::move(result));
                 }));
}

void TrackerSet::finished(const std::string& id, const std::shared_ptr<asio::cancellation_signal>& signal,
                          std::exception_ptr failure, std::optional<TrackerResult> result) {
  const auto it = trackers_.find(id);
  if (it == trackers_.end() || it->second.cancel != signal) return;  // stopped: superseded, deleted, shutdown
  const Tracker tracker = std::move(it->second);
  trackers_.erase(it);
  count_running();
  if (failure) {
    if (stopped_by_cancellation(failure)) return;
    log_.error("execution tracker failed", {{"execution_id", id}, {"error", describe(failure)}});
  } else if (result) {
    if (metrics_) metrics_->count_execution(result_of(result->outcome), result->outcome.output.size());
    delivered_.insert_or_assign(id, Delivered{tracker.command_key, tracker.generation, std::move(*result)});
  } else {
    return;
  }
  on_result_(tracker.command_key);
}

void TrackerSet::stop(const std::string& command_key, std::optional<std::int64_t> keep_generation) {
  const auto stopped = [&](const std::string& key, std::int64_t generation) {
    return key == command_key && (!keep_generation || generation != *keep_generation);
  };
  for (auto it = trackers_.begin(); it != trackers_.end();) {
    if (!stopped(it->second.command_key, it->second.generation)) {
      ++it;
      continue;
    }
    it->second.cancel->emit(asio::cancellation_type::terminal);
    it = trackers_.erase(it);
  }
  count_running();
  std::erase_if(delivered_, [&](const auto& d) { return stopped(d.second.command_key, d.second.generation); });
}

void TrackerSet::stop_all() {
  for (auto& [id, tracker] : trackers_) tracker.cancel->emit(asio::cancellation_type::terminal);
  trackers_.clear();
  delivered_.clear();
  count_running();
}

void TrackerSet::mark_recorded(const std::string& command_key, const std::string& execution_id) {
  delivered_.erase(execution_id);
  recorded_[execution_id] = command_key;
}

void TrackerSet::forget(const std::string& command_key) {
  std::erase_if(recorded_, [&](const auto& r) { return r.second == command_key; });
}

bool TrackerSet::tracking(const std::string& execution_id) const { return trackers_.contains(execution_id); }

const TrackerResult* TrackerSet::delivered(const std::string& command_key, const std::string& execution_id) const {
  const auto it = delivered_.find(execution_id);
  return it != delivered_.end() && it->second.command_key == command_key ? &it->second.result : nullptr;
}

bool TrackerSet::recorded(const std::string& execution_id) const { return recorded_.contains(execution_id); }

}  // namespace jarvis::controller
