// The controller's decisions, with no I/O. Given a Command as the cache holds it, the cluster as the caches
// see it (nodes, agent endpoints), what this process's trackers know, and the time, plan() says what to do
// next. The reconciler carries a plan out in a fixed order, which is what makes every execution run exactly
// once per (Command uid, generation, node):
//
//   1. the status write, conditional on the resourceVersion the plan was made from (a stale decision fails
//      with 409 and is made again on fresh data);
//   2. only after it succeeded: trackers for the executions the written status records as dispatched, the
//      events of the nodes it records as finished, cancellations of a superseded generation.
//
// Decisions by the Command's state:
//   gone from the cache          -> stop its trackers, forget it;
//   being deleted                -> cancel what still runs, then release the finalizer;
//   without our finalizer        -> add it (nothing runs before the finalizer is there);
//   unusable spec                -> status Failed with the problem, one InvalidSpec event;
//   new generation               -> pick targets (all recorded, frozen for the run), record the first window of
//                                   them Dispatched (or AgentNotFound) and the rest Pending, start;
//   current generation, running  -> fold delivered results in; resume dispatched nodes no tracker follows
//                                   (after a controller restart: Start again with resume, which the agent's
//                                   journal makes safe); a node whose agent has no ready endpoint left is
//                                   reported AgentUnreachable; then move the window (below);
//   current generation, finished -> with spec.ttlSecondsAfterFinished: wait for completionTime + ttl, then
//                                   expire (the reconciler re-reads the Command and deletes it by uid).
// The rollout window (rollout.hpp): Pending nodes are dispatched in natural name order while fewer than
// maxConcurrency run and the failure budget holds; once failures exceed maxFailures, every Pending node is
// Skipped. Dispatching a window slot is recorded in the same conditional status write as the results that
// freed it, before its Start, so a restarted controller continues the window and never starts a node twice.
// Each status change refolds status.groups; the write that finishes the run carries the conditions and the
// summary event.
// Events are as durable as results: every event a plan orders is recorded in status.eventsPending by the same
// write that records its result, and handed over only after it. Later plans drop the events the poster posted
// and order again, rebuilt from the status, those it gave up on or never had (another controller's, or this
// one's before a restart); their fixed names keep each to one Event. A finished Command is done with only once
// it owes no event.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <rapidjson/document.h>

#include "controller/agent_endpoints.hpp"
#include "controller/command_spec.hpp"
#include "controller/command_status.hpp"
#include "controller/event_message.hpp"
#include "controller/event_poster.hpp"
#include "controller/execution_tracker.hpp"
#include "controller/finalizer.hpp"
#include "controller/node_selector.hpp"

namespace jarvis::controller {

// What this controller process knows about executions beyond the status (TrackerSet answers it).
class ExecutionView {
 public:
  virtual ~ExecutionView() = default;
  // A tracker follows this execution now.
  virtual bool tracking(const std::string& execution_id) const = 0;
  // The result a tracker delivered for the Command `command_key`, not yet recorded in its status.
  virtual const TrackerResult* delivered(const std::string& command_key, const std::string& execution_id) const = 0;
  // This process wrote the execution's result into the status (the cache may not show it yet).
  virtual bool recorded(const std::string& execution_id) const = 0;
};

struct ClusterView {
  std::vector<NodeInfo> nodes;
  AgentAddresses agents;  // node name -> address of its ready agent
};

// An execution to follow: Start (resume = Start again after a restart), then Wait until it ends.
struct ExecutionOrder {
  std::string node;
  std::string address;
  std::string execution_id;
  bool resume = false;
};

// An execution to stop on its agent.
struct CancelOrder {
  std::string node;
  std::string address;
  std::string execution_id;
};

struct Plan {
  enum class Action {
    nothing,         // up to date, or waiting for trackers
    forget,          // gone: stop its trackers, drop what is known about it
    add_finalizer,   // metadata.finalizers gets kFinalizer, nothing else in this pass
    finalize,        // cancel `cancels`, stop trackers, then remove kFinalizer
    update,          // write `status`, then start `executions`, post `events`, send `cancels`
    expire,          // ttlSecondsAfterFinished has passed: re-read the Command, delete it by uid
  };
  Action action = Action::nothing;
  // The Command as read, for every action but nothing/forget (spec only when it is usable), so carrying the
  // plan out parses nothing again.
  CommandMeta meta;
  std::optional<CommandSpec> spec;
  // When the status recorded the dispatch of `executions` (resumed Starts send it to the agent).
  std::chrono::system_clock::time_point dispatched_at;
  std::optional<CommandStatus> status;
  std::vector<ExecutionOrder> executions;
  std::vector<EventSpec> events;
  std::vector<CancelOrder> cancels;
  std::vector<std::string> recorded;  // execution ids whose delivered results `status` records
  // Event names `status` no longer owes (posted): the poster forgets them once the write succeeded.
  std::vector<std::string> events_dropped;
  // update: stop the trackers of every other generation of this Command (superseded) first.
  std::optional<std::int64_t> supersede_all_but;
  bool stop_trackers = false;  // the run is over (finished status): trackers left are not needed
  std::string problem;         // why a Command cannot be run (malformed metadata or spec), for the log
  bool dispatching = false;    // update starts a new generation (for the log)
  bool finishing = false;      // `status` ends the run (for the log: "command finished")
  // nothing: look again after this long (a finished Command's TTL not yet due).
  std::optional<std::chrono::milliseconds> requeue_after;
};

// Above this many targeted nodes, only nodes that did not succeed get a per-node event (the summary event and
// status.groups carry the rest): see README "Events".
inline constexpr int kNodeEventsForEveryNodeUpTo = 5000;

// When a finished Command is due for deletion under spec.ttlSecondsAfterFinished.
struct TtlCheck {
  bool due = false;                                // delete it now
  std::optional<std::chrono::milliseconds> wait;   // not yet: look again after this long
};
// From the Command as read (cache or a fresh GET): not due and no wait when it has no TTL, is not finished for
// its current generation, or its completionTime is unreadable. A completionTime in the future (clock skew)
// only delays: due once completionTime + ttl has passed on this clock.
TtlCheck ttl_check(const rapidjson::Value& object, std::chrono::system_clock::time_point now);

struct PlanInput {
  std::string key;                          // "namespace/name"
  const rapidjson::Value* object = nullptr;  // the Command in the cache; nullptr when gone
  const ClusterView* cluster = nullptr;
  const ExecutionView* executions = nullptr;
  std::chrono::system_clock::time_point now;
  // What became of the events this process handed over; nullptr: status.eventsPending is left as it is (events
  // of new results are still recorded there).
  const EventView* events = nullptr;
};

Plan plan(const PlanInput& input);

// The Start request for an execution the plan ordered. `dispatched` is when the status recorded it.
jarvis::v1::StartRequest start_request(const Command& command, const ExecutionOrder& order,
                                       std::uint64_t max_output_bytes,
                                       std::chrono::system_clock::time_point dispatched);

// The node entry for a result a tracker delivered, keeping at most `output_budget` bytes of output.
void record_result(NodeStatus& node, const TrackerResult& result, std::uint64_t output_budget,
                   std::chrono::system_clock::time_point now);

// status.message: "succeeded on all 3 node(s)", "failed on 1 of 3 node(s): kind-worker (Exited)", ...
std::string summary_message(const CommandStatus& status);

}  // namespace jarvis::controller
