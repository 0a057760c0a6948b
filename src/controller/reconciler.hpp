// Reconcile: one Command key in, one ReconcileResult out, level-based. A thin loop over
//   plan (plan.hpp: what to do, no I/O) -> write (CommandApi: status, finalizer) -> track (TrackerSet: follow
//   executions on agents; Canceller: stop superseded ones) -> hand the events over (EventPoster).
// The order of a plan's steps, status write first, is what keeps every execution exactly once (plan.hpp).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "common/log.hpp"
#include "controller/agent_api.hpp"
#include "controller/canceller.hpp"
#include "controller/command_api.hpp"
#include "controller/controller_metrics.hpp"
#include "controller/error_policy.hpp"
#include "controller/event_poster.hpp"
#include "controller/plan.hpp"
#include "controller/tracker_set.hpp"
#include "kube/object.hpp"

namespace jarvis::controller {

struct ReconcilerOptions {
  std::uint64_t max_output_bytes = 64 * 1024;  // asked of agents; events show up to 16 KiB of it
  // Events posted at once, across all Commands (each after its result is in status; event_poster.hpp), and the
  // queue's bound. The concurrency matches the event client's kept-open connections.
  EventPosterOptions events;
  // Every status write rewrites the whole object (about 200 bytes per node), so on a big fleet results are
  // gathered: a write that only records results waits until this long per targeted node has passed since
  // the Command's previous write, at most status_spacing_max. Dispatching and cancelling never wait.
  std::chrono::microseconds status_spacing_per_node{500};
  std::chrono::milliseconds status_spacing_max{1000};
  TrackerTiming tracker;
  CancelTiming cancel;
  ControllerMetrics* metrics = nullptr;  // optional: executions by result and in flight (TrackerSet)
};

class Reconciler {
 public:
  using CommandLookup = std::function<kube::Object(const std::string& key)>;
  using ClusterLookup = std::function<const ClusterView&()>;
  // Queues `key` for a reconcile once `delay` has passed (zero: now).
  using Requeue = std::function<void(const std::string& key, std::chrono::steady_clock::duration delay)>;

  // `requeue(key, delay)` is called when a tracker delivered a result for the Command `key`: at once, or, soon
  // after a status write of a big Command, when that write's spacing ends (so one reconcile gathers every
  // result that came meanwhile instead of planning the whole Command once per result).
  Reconciler(boost::asio::any_io_executor executor, CommandApi& api, AgentApi& agents, CommandLookup commands,
             ClusterLookup cluster, Requeue requeue, ReconcilerOptions options, Logger& log);
  Reconciler(const Reconciler&) = delete;
  Reconciler& operator=(const Reconciler&) = delete;

  boost::asio::awaitable<ReconcileResult> reconcile(const std::string& key);

  // Stops every tracker and cancel retry (controller shutdown). Executions keep running on the agents; a
  // restarted controller collects them.
  void stop();
  std::size_t active_trackers() const { return trackers_.size(); }
  std::size_t pending_cancels() const { return canceller_.pending(); }
  // Events handed over and not yet posted (they go out after the reconcile that wrote their results ended).
  std::size_t pending_events() const { return events_.pending(); }
  // The event queue's gauges, and a warning when events wait long (called every half second).
  void update_event_metrics() { events_.update_metrics(); }

 private:
  boost::asio::awaitable<ReconcileResult> carry_out(const std::string& key, const kube::Object& object, Plan plan);
  // How long a status write of `p` should still wait to gather more results (zero: write now).
  std::chrono::steady_clock::duration status_wait(const std::string& key, const Plan& p) const;
  void on_result(const std::string& key);
  std::chrono::steady_clock::duration spacing(const CommandStatus& status) const;
  // What is left of the spacing after the Command's last status write (zero when none or over).
  std::chrono::steady_clock::duration spacing_left(const std::string& key) const;
  // ttlSecondsAfterFinished has passed (as the cache says): re-read, check again, delete by uid.
  boost::asio::awaitable<ReconcileResult> expire(const std::string& key, const CommandMeta& meta);
  void forget(const std::string& key);

  CommandApi& api_;
  CommandLookup commands_;
  ClusterLookup cluster_;
  ReconcilerOptions options_;
  Logger& log_;
  TrackerSet trackers_;
  Canceller canceller_;
  EventPoster events_;
  struct LastWrite {
    std::chrono::steady_clock::time_point at;
    std::chrono::steady_clock::duration spacing;  // until the next write that only records results
  };
  std::map<std::string, LastWrite> last_status_write_;
  Requeue requeue_;
  std::map<std::string, std::string> written_over_;  // resourceVersion our last status write replaced
};

}  // namespace jarvis::controller
