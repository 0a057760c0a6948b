// Reconcile: one Command key in, one action out, level-based. It reads the Command, the node and agent
// caches and the results its execution trackers delivered, and moves the Command's status one step:
//
//   new generation  -> pick targets, record every target as Dispatched in status (conditional write), and
//                      only then start the trackers that send Start;
//   running         -> fold finished results into status, then emit one event per finished node; resume
//                      waiting (never starting) for dispatched nodes no tracker follows (controller restart);
//   being deleted   -> cancel what still runs on agents, then remove the finalizer.
//
// Every status write carries the resourceVersion it was computed from, so a decision made on a stale cache
// fails with 409 and is made again on fresh data: no node is dispatched twice for one generation.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/cancellation_signal.hpp>

#include "common/log.hpp"
#include "controller/agent_client.hpp"
#include "controller/command_spec.hpp"
#include "controller/command_status.hpp"
#include "controller/event_message.hpp"
#include "controller/execution_tracker.hpp"
#include "controller/work_queue.hpp"
#include "kube/client.hpp"
#include "kube/object.hpp"
#include "kube/object_store.hpp"

namespace jarvis::controller {

inline constexpr std::string_view kFinalizer = "jarvis.io/finalizer";

struct ReconcilerOptions {
  std::uint16_t default_agent_port = 50051;  // when an EndpointSlice names no port
  std::uint64_t max_output_bytes = 64 * 1024;  // asked of agents; events show up to 16 KiB of it
  TrackerTiming tracker;
  std::chrono::milliseconds cancel_deadline{5'000};
};

struct ReconcileResult {
  enum class Kind { done, requeue_after, retry } kind = Kind::done;
  std::chrono::milliseconds delay{0};
  static ReconcileResult done() { return {}; }
  static ReconcileResult after(std::chrono::milliseconds d) { return {Kind::requeue_after, d}; }
  static ReconcileResult retry() { return {Kind::retry, {}}; }
};

class Reconciler {
 public:
  using CommandLookup = std::function<kube::Object(const std::string& key)>;

  Reconciler(boost::asio::any_io_executor ex, kube::Client& api, CommandLookup commands,
             const kube::ObjectStore& nodes, const kube::ObjectStore& agent_slices, AgentClient& agents,
             WorkQueue& queue, ReconcilerOptions options, Logger& log);
  ~Reconciler();
  Reconciler(const Reconciler&) = delete;
  Reconciler& operator=(const Reconciler&) = delete;

  boost::asio::awaitable<ReconcileResult> reconcile(const std::string& key);

  // Stops every tracker (controller shutdown). Executions keep running on the agents; a restarted controller
  // collects them.
  void stop_trackers();
  std::size_t active_trackers() const { return trackers_.size(); }

 private:
  struct Tracker {
    std::string command_key;
    std::int64_t generation = 0;
    std::string node;
    std::string address;
    std::shared_ptr<boost::asio::cancellation_signal> cancel;
  };

  boost::asio::awaitable<ReconcileResult> step(const std::string& key, const kube::Object& obj);
  boost::asio::awaitable<ReconcileResult> dispatch(const kube::Object& obj, const Command& cmd);
  boost::asio::awaitable<ReconcileResult> follow(const kube::Object& obj, const Command& cmd, CommandStatus status);
  boost::asio::awaitable<ReconcileResult> finalize(const kube::Object& obj, const CommandMeta& meta);
  boost::asio::awaitable<ReconcileResult> add_finalizer(const kube::Object& obj, const CommandMeta& meta);
  boost::asio::awaitable<ReconcileResult> report_invalid_spec(const kube::Object& obj, const CommandMeta& meta,
                                                              const std::string& problem);

  // PUT .../status with the object's resourceVersion. done() on success.
  boost::asio::awaitable<ReconcileResult> write_status(const kube::Object& obj, const CommandMeta& meta,
                                                       const CommandStatus& status);
  boost::asio::awaitable<void> post_event(const CommandMeta& meta, const EventSpec& event);
  boost::asio::awaitable<void> cancel_on_agents(const CommandMeta& meta, const CommandStatus& status);

  void start_tracker(TrackedExecution run, std::int64_t generation);
  // Stops the trackers of `key` (all, or those of generations other than keep_generation); with
  // cancel_on_agent, also asks their agents to cancel the runs.
  void stop_trackers_of(const std::string& key, std::optional<std::int64_t> keep_generation, bool cancel_on_agent);
  void forget(const std::string& key);
  std::map<std::string, std::string> agent_addresses_now() const;

  boost::asio::any_io_executor ex_;
  kube::Client& api_;
  CommandLookup commands_;
  const kube::ObjectStore& nodes_;
  const kube::ObjectStore& agent_slices_;
  AgentClient& agents_;
  WorkQueue& queue_;
  ReconcilerOptions options_;
  Logger& log_;
  std::map<std::string, Tracker> trackers_;        // by execution id
  struct Delivered {
    std::string command_key;
    std::int64_t generation = 0;
    TrackerResult result;
  };
  std::map<std::string, Delivered> results_;       // by execution id: delivered, not yet in status
  std::map<std::string, std::string> recorded_;    // execution id -> key: results already written to status

  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace jarvis::controller
