// The execution trackers this controller process runs, and the results they delivered until the Command's
// status records them. One tracker per execution id. It knows nothing of reconciling: it is told what to
// start and stop, and calls `on_result(command_key)` when a tracker delivered (or failed, a bug, so the
// Command is looked at again and the execution resumed).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/cancellation_signal.hpp>

#include "common/log.hpp"
#include "controller/agent_api.hpp"
#include "controller/controller_metrics.hpp"
#include "controller/execution_tracker.hpp"
#include "controller/plan.hpp"

namespace jarvis::controller {

class TrackerSet final : public ExecutionView {
 public:
  using OnResult = std::function<void(const std::string& command_key)>;

  // `metrics` (optional) counts delivered results by how they ended and the trackers running.
  TrackerSet(boost::asio::any_io_executor executor, AgentApi& agents, TrackerTiming timing, Logger& log,
             OnResult on_result, ControllerMetrics* metrics = nullptr);
  ~TrackerSet() override;
  TrackerSet(const TrackerSet&) = delete;
  TrackerSet& operator=(const TrackerSet&) = delete;

  // Starts following `run` (of `generation` of the Command run.command_key), unless a tracker already does.
  void start(std::int64_t generation, TrackedExecution run);
  // Stops the trackers of a Command (all, or those of generations other than keep_generation) and drops
  // their undelivered results. What runs on the agents is not touched.
  void stop(const std::string& command_key, std::optional<std::int64_t> keep_generation = std::nullopt);
  void stop_all();
  // The status now records this execution's result: the delivered result is dropped and the id remembered
  // until forget(command_key), so a cache that does not show the write yet does not resume it.
  void mark_recorded(const std::string& command_key, const std::string& execution_id);
  void forget(const std::string& command_key);

  bool tracking(const std::string& execution_id) const override;
  const TrackerResult* delivered(const std::string& command_key, const std::string& execution_id) const override;
  bool recorded(const std::string& execution_id) const override;
  std::size_t size() const { return trackers_.size(); }

 private:
  void count_running() const;

  struct Tracker {
    std::string command_key;
    std::int64_t generation = 0;
    std::shared_ptr<boost::asio::cancellation_signal> cancel;
  };
  struct Delivered {
    std::string command_key;
    std::int64_t generation = 0;
    TrackerResult result;
  };

  void finished(const std::string& id, const std::shared_ptr<boost::asio::cancellation_signal>& signal,
                std::exception_ptr failure, std::optional<TrackerResult> result);

  boost::asio::any_io_executor executor_;
  AgentApi& agents_;
  TrackerTiming timing_;
  Logger& log_;
  OnResult on_result_;
  ControllerMetrics* metrics_;
  std::map<std::string, Tracker> trackers_;      // by execution id
  std::map<std::string, Delivered> delivered_;   // by execution id
  std::map<std::string, std::string> recorded_;  // execution id -> command key
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace jarvis::controller
