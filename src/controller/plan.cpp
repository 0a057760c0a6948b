#include "controller/plan.hpp"

#include <algorithm>
#include <optional>

#include "common/node_ranges.hpp"
#include "common/time_format.hpp"
#include "common/utf8.hpp"
#include "controller/execution_id.hpp"
#include "controller/result_groups.hpp"
#include "controller/rollout.hpp"

namespace jarvis::controller {

namespace {

using Clock = std::chrono::system_clock;

// How a finished node entry ended, as its event tells it, rebuilt from the status alone (a controller that did
// not see the result: after a restart, a hand-over, or when it gave up posting). The output is what the status
// kept of it, with a line saying how much it did not keep.
NodeOutcome outcome_from_status(const NodeStatus& n, std::uint32_t timeout_seconds) {
  NodeOutcome o;
  if (n.reason == reason::exited) {
    o.ending = NodeOutcome::Ending::exited;
    o.exit_code = n.exit_code.value_or(0);
  } else if (n.reason == reason::signaled) {
    o.ending = NodeOutcome::Ending::signaled;
    o.signal = n.signal.value_or(0);
  } else if (n.reason == reason::timed_out) {
    o.ending = NodeOutcome::Ending::timed_out;
    o.timeout_seconds = timeout_seconds;
  } else if (n.reason == reason::canceled) {
    o.ending = NodeOutcome::Ending::canceled;
  } else if (n.reason == reason::start_failed) {
    o.ending = NodeOutcome::Ending::start_failed;
  } else if (n.reason == reason::interrupted) {
    o.ending = NodeOutcome::Ending::interrupted;
  } else {
    o.ending = NodeOutcome::Ending::agent_error;
  }
  o.detail = n.message;
  o.output = n.output;
  const std::uint64_t total = n.output_bytes.value_or(n.output.size());
  if (total > n.output.size()) {
    if (!o.output.empty() && o.output.back() != '\n') o.output += '\n';
    o.output += "[jarvis: " + std::to_string(total - n.output.size()) +
                " more bytes not kept in the status; this event was rebuilt from it]";
  }
  return o;
}

// The event `key` of a run as the status records it; nullopt when the status cannot owe it (a node not finished or
// not in the run, a summary of a run not finished).
std::optional<EventSpec> event_from_status(const CommandMeta& meta, const std::optional<CommandSpec>& spec,
                                           const CommandStatus& status, const std::string& key) {
  const std::string command_text = spec ? spec->command : std::string();
  if (key.starts_with(event_key::node_prefix)) {
    const NodeStatus* n = status.find(std::string_view(key).substr(event_key::node_prefix.size()));
    if (n == nullptr || !n->finished() || n->phase == Phase::skipped) return std::nullopt;
    if (n->reason == reason::agent_not_found) return make_agent_not_found_event(meta, n->name);
    return make_node_event(meta, command_text, n->name, outcome_from_status(*n, spec ? spec->timeout_seconds : 0));
  }
  if (key == event_key::summary) {
    if (!status.finished()) return std::nullopt;
    return make_summary_event(command_text, status);
  }
  if (key == event_key::no_matching_nodes) return make_no_matching_nodes_event(command_text);
  if (key == event_key::invalid_spec) {
    constexpr std::string_view prefix = "invalid spec, nothing ran: ";
    std::string_view problem = status.message;
    if (problem.starts_with(prefix)) problem.remove_prefix(prefix.size());
    return make_invalid_spec_event(problem);
  }
  return std::nullopt;
}

// The events `current` owes: drop from `next` those posted (or that it cannot owe), order again those nobody is
// posting (event_poster.hpp, EventState), leave the rest.
void settle_events(const CommandMeta& meta, const std::optional<CommandSpec>& spec, const CommandStatus& current,
                   CommandStatus& next, const EventView* events, Plan& p) {
  if (events == nullptr) return;
  for (const auto& key : current.events_pending) {
    const std::string name = event_object_name(meta, key);
    const EventState state = events->event_state(meta.ns, name);
    if (state == EventState::waiting) continue;
    if (state == EventState::posted) {
      next.events_pending.erase(key);
      p.events_dropped.push_back(name);
      continue;
    }
    if (auto event = event_from_status(meta, spec, current, key)) {
      p.events.push_back(std::move(*event));
    } else {
      next.events_pending.erase(key);
    }
  }
}

// A run that is over (or a spec that cannot run, already reported) may still owe events.
Plan settle_only(const CommandMeta& meta, const std::optional<CommandSpec>& spec, const CommandStatus& current,
                 const EventView* events) {
  Plan p;
  CommandStatus next = current;
  settle_events(meta, spec, current, next, events, p);
  if (next != current) p.status = std::move(next);
  if (p.status || !p.events.empty()) p.action = Plan::Action::update;
  return p;
}

Plan invalid_spec(const CommandMeta& meta, const CommandStatus& current, const std::string& problem, Clock::time_point now,
                  const EventView* events) {
  if (current.observed_generation == meta.generation && current.finished())
    return settle_only(meta, std::nullopt, current, events);
  Plan p;
  p.problem = problem;
  CommandStatus s;
  s.phase = Phase::failed;
  s.observed_generation = meta.generation;
  s.start_time = s.completion_time = rfc3339(now);
  s.message = "invalid spec, nothing ran: " + problem;
  p.action = Plan::Action::update;
  p.finishing = true;
  p.status = std::move(s);
  p.events.push_back(make_invalid_spec_event(problem));
  return p;
}

// The executions of the status's generation that may still run on their agents.
std::vector<CancelOrder> unfinished(const CommandStatus& status, const AgentAddresses& agents) {
  std::vector<CancelOrder> orders;
  for (const auto& n : status.nodes) {
    if (n.finished() || n.execution_id.empty()) continue;
    if (auto a = agents.find(n.name); a != agents.end()) orders.push_back({n.name, a->second, n.execution_id});
  }
  return orders;
}

// The status's nodes in dispatch order: natural order of their names (kind-worker2 before kind-worker10).
std::vector<NodeStatus*> in_dispatch_order(CommandStatus& s) {
  std::vector<NodeStatus*> order;
  for (auto& n : s.nodes) order.push_back(&n);
  std::sort(order.begin(), order.end(), [](const NodeStatus* a, const NodeStatus* b) { return natural_less(a->name, b->name); });
  return order;
}

int count_phase(const CommandStatus& s, Phase phase) {
  return static_cast<int>(std::count_if(s.nodes.begin(), s.nodes.end(), [&](const NodeStatus& n) { return n.phase == phase; }));
}

bool wants_node_event(const CommandStatus& s, bool succeeded) {
  return !succeeded || static_cast<int>(s.nodes.size()) <= kNodeEventsForEveryNodeUpTo;
}

// Moves the rollout window: dispatches Pending nodes in order while fewer than the window run and the failure
// budget holds (a node without a ready agent fails at its turn and takes no slot); once failures exceed the
// budget, every Pending node is Skipped.
void advance(const Command& cmd, CommandStatus& s, const ClusterView& cluster, Plan& p, const std::string& time) {
  const int targeted = static_cast<int>(s.nodes.size());
  const int window = window_size(cmd.spec.max_concurrency, targeted);
  const auto budget = failure_budget(cmd.spec.max_failures, targeted);
  int running = count_phase(s, Phase::running);
  int failed = count_phase(s, Phase::failed);
  const auto order = in_dispatch_order(s);
  for (NodeStatus* n : order) {
    if (n->phase != Phase::pending) continue;
    if (running >= window || budget_exceeded(budget, failed)) break;
    n->message.clear();
    if (auto agent = cluster.agents.find(n->name); agent != cluster.agents.end()) {
      n->phase = Phase::running;
      n->reason = reason::dispatched;
      n->execution_id = execution_id(cmd.meta.uid, cmd.meta.generation, n->name);
      p.executions.push_back({n->name, agent->second, n->execution_id, false});
      ++running;
    } else {
      n->phase = Phase::failed;
      n->reason = reason::agent_not_found;
      n->message = "Agent not found for node " + n->name + " (skipping)";
      n->end_time = time;
      p.events.push_back(make_agent_not_found_event(cmd.meta, n->name));
      ++failed;
    }
  }
  if (!budget_exceeded(budget, failed)) return;
  const std::string why = std::to_string(failed) + " node(s) failed, more than spec.maxFailures allows (" +
                          describe_limit(cmd.spec.max_failures, *budget) + " of " + std::to_string(targeted) + ")";
  int skipped = 0;
  for (NodeStatus* n : order) {
    if (n->phase != Phase::pending) continue;
    n->phase = Phase::skipped;
    n->reason = reason::failure_budget_exceeded;
    n->message = "not started: " + why;
    ++skipped;
  }
  if (!s.condition(condition::failure_budget_exceeded) || skipped > 0) {
    const int all_skipped = count_phase(s, Phase::skipped);
    set_condition(s, condition::failure_budget_exceeded, "MaxFailuresExceeded",
                  why + "; " + std::to_string(all_skipped) + " node(s) not started were skipped", time);
  }
}

// After any change of the status: counts, groups, message; and once the run is over its completion time, its
// Complete or Failed condition and the summary event.
void conclude(const Command& cmd, const CommandStatus& before, CommandStatus& s, const FreshOutputs& fresh, Plan& p,
              const std::string& time) {
  recount(s);
  s.groups = fold_results(s.nodes, before.groups, fresh);
  s.message = summary_message(s);
  if (!s.finished() || before.finished()) return;
  p.finishing = true;
  s.completion_time = time;
  if (s.phase == Phase::succeeded) {
    set_condition(s, condition::complete, "AllSucceeded", s.message, time);
  } else {
    const std::string why = s.condition(condition::failure_budget_exceeded) ? "FailureBudgetExceeded"
                            : s.targeted == 0                                ? "NoMatchingNodes"
                                                                             : "NodesFailed";
    set_condition(s, condition::failed, why, s.message, time);
  }
  p.events.push_back(make_summary_event(cmd.spec.command, s));
}

// A delivered (or concluded) result on its node entry, its event, and its output for the groups.
void record(const Command& cmd, CommandStatus& s, NodeStatus& n, const TrackerResult& result, FreshOutputs& fresh,
            Plan& p, Clock::time_point now) {
  record_result(n, result, s.output_bytes_per_node, now);
  if (result.execution && !n.output_hash.empty())
    fresh.emplace(n.output_hash, valid_utf8(result.execution->output()));
  if (wants_node_event(s, result.outcome.succeeded()))
    p.events.push_back(make_node_event(cmd.meta, cmd.spec.command, n.name, result.outcome));
}

Plan dispatch(const Command& cmd, const CommandStatus& previous, const ClusterView& cluster, Clock::time_point now) {
  Plan p;
  p.action = Plan::Action::update;
  p.dispatching = true;
  p.dispatched_at = now;
  p.supersede_all_but = cmd.meta.generation;
  // A new generation supersedes what the previous one still runs, whether this process or an earlier one
  // started it.
  if (!previous.finished()) p.cancels = unfinished(previous, cluster.agents);

  std::vector<std::string> targets;
  for (const auto& node : cluster.nodes)
    if (matches(cmd.spec.selector, node)) targets.push_back(node.name);
  std::sort(targets.begin(), targets.end());

  const std::string time = rfc3339(now);
  CommandStatus s;
  s.observed_generation = cmd.meta.generation;
  s.start_time = time;
  s.output_bytes_per_node = output_budget_per_node(targets.size());
  // Every target is recorded now, so the run's node set (and its percentages) never changes afterwards.
  for (const auto& node : targets) {
    NodeStatus n;
    n.name = node;
    n.phase = Phase::pending;
    n.reason = reason::queued;
    s.nodes.push_back(std::move(n));
  }
  advance(cmd, s, cluster, p, time);
  if (targets.empty()) p.events.push_back(make_no_matching_nodes_event(cmd.spec.command));
  conclude(cmd, CommandStatus{}, s, {}, p, time);
  p.status = std::move(s);
  return p;
}

Plan progress(const std::string& key, const Command& cmd, const CommandStatus& current, const ClusterView& cluster,
              const ExecutionView& executions, const EventView* events, Clock::time_point now) {
  if (current.finished()) {
    Plan settled = settle_only(cmd.meta, cmd.spec, current, events);
    // Done with once no event is owed: its trackers and what this process knows of it can go.
    if (settled.action == Plan::Action::nothing && current.events_pending.empty()) settled.stop_trackers = true;
    return settled;
  }
  Plan p;
  const std::string time = rfc3339(now);
  CommandStatus next = current;
  settle_events(cmd.meta, cmd.spec, current, next, events, p);
  FreshOutputs fresh;
  for (auto& n : next.nodes) {
    if (n.finished() || n.execution_id.empty()) continue;
    if (const TrackerResult* result = executions.delivered(key, n.execution_id)) {
      record(cmd, next, n, *result, fresh, p, now);
      p.recorded.push_back(n.execution_id);
      continue;
    }
    if (executions.tracking(n.execution_id) || executions.recorded(n.execution_id)) continue;
    // Dispatched, and nobody in this process follows it: a controller restarted after the status write.
    if (auto agent = cluster.agents.find(n.name); agent != cluster.agents.end()) {
      p.executions.push_back({n.name, agent->second, n.execution_id, true});
      continue;
    }
    const TrackerResult gone{agent_error_outcome("the agent of node " + n.name +
                                                 " no longer has a ready endpoint; its result cannot be collected"),
                             std::nullopt, std::string(reason::agent_unreachable)};
    record(cmd, next, n, gone, fresh, p, now);
  }
  // Slots freed by these results (or left free by a controller that stopped before filling them).
  advance(cmd, next, cluster, p, time);
  if (next != current) {
    conclude(cmd, current, next, fresh, p, time);
    p.status = std::move(next);
  }
  if (p.status || !p.executions.empty()) p.action = Plan::Action::update;
  // Read conservatively: an unreadable time is the epoch, which an agent without the record refuses (Lost).
  // Nodes dispatched later in the window send the run's start time too: earlier than their own dispatch, so an
  // agent can only answer Lost more readily, never run it twice.
  p.dispatched_at = parse_rfc3339(current.start_time).value_or(Clock::time_point{});
  return p;
}

Plan decide(const PlanInput& in, std::optional<CommandMeta>& meta_read, std::optional<CommandSpec>& spec_read) {
  Plan p;
  if (in.object == nullptr) {
    // Gone without our finalizer (e.g. deleted while no controller ran and the finalizer was removed by
    // hand): nothing left to report on.
    p.action = Plan::Action::forget;
    return p;
  }
  auto meta = parse_command_meta(*in.object);
  if (!meta) {
    p.problem = meta.error().message;
    return p;
  }
  meta_read = *meta;
  const CommandStatus status = parse_status(*in.object);
  switch (finalizer_stage(*meta)) {
    case FinalizerStage::released: p.action = Plan::Action::forget; return p;
    case FinalizerStage::add: p.action = Plan::Action::add_finalizer; return p;
    case FinalizerStage::cleanup:
      p.action = Plan::Action::finalize;
      if (auto spec = parse_command_spec(*in.object)) spec_read = std::move(*spec);  // its timeout bounds cancels
      // Whatever generation the status records: the API server bumps metadata.generation when it sets
      // deletionTimestamp, so the recorded executions belong to an older generation by now.
      if (!status.finished()) p.cancels = unfinished(status, in.cluster->agents);
      return p;
    case FinalizerStage::apply: break;
  }
  auto spec = parse_command_spec(*in.object);
  if (!spec) return invalid_spec(*meta, status, spec.error().message, in.now, in.events);
  spec_read = *spec;
  const Command command{std::move(*meta), std::move(*spec)};
  if (status.observed_generation != command.meta.generation) return dispatch(command, status, *in.cluster, in.now);
  Plan next = progress(in.key, command, status, *in.cluster, *in.executions, in.events, in.now);
  if (next.action == Plan::Action::nothing && status.finished() && status.events_pending.empty()) {
    const TtlCheck ttl = ttl_check(*in.object, in.now);
    if (ttl.due) next.action = Plan::Action::expire;
    next.requeue_after = ttl.wait;
  }
  return next;
}

}  // namespace

Plan plan(const PlanInput& in) {
  std::optional<CommandMeta> meta;
  std::optional<CommandSpec> spec;
  Plan p = decide(in, meta, spec);
  // Every event ordered is owed from the write that records its result until it is known to be posted.
  if (p.status) {
    for (const auto& event : p.events) p.status->events_pending.insert(event.key);
  }
  if (meta) p.meta = std::move(*meta);
  p.spec = std::move(spec);
  return p;
}

jarvis::v1::StartRequest start_request(const Command& command, const ExecutionOrder& order,
                                       std::uint64_t max_output_bytes, Clock::time_point dispatched) {
  jarvis::v1::StartRequest start;
  start.set_execution_id(order.execution_id);
  start.set_command(command.spec.command);
  start.set_timeout_seconds(command.spec.timeout_seconds);
  start.set_max_output_bytes(max_output_bytes);
  start.set_resume(order.resume);
  start.set_dispatched_unix_ms(
      std::chrono::duration_cast<std::chrono::milliseconds>(dispatched.time_since_epoch()).count());
  auto* origin = start.mutable_origin();
  origin->set_namespace_(command.meta.ns);
  origin->set_name(command.meta.name);
  origin->set_uid(command.meta.uid);
  origin->set_generation(command.meta.generation);
  return start;
}

void record_result(NodeStatus& n, const TrackerResult& r, std::uint64_t budget, Clock::time_point now) {
  n.phase = r.outcome.succeeded() ? Phase::succeeded : Phase::failed;
  n.reason = r.reason;
  n.message = r.outcome.detail;
  if (!r.execution) {
    n.end_time = rfc3339(now);
    return;
  }
  const auto& e = *r.execution;
  if (e.exited()) n.exit_code = e.exit_code();
  if (e.signal() != 0) n.signal = e.signal();
  if (e.start_time_unix_ms() > 0) n.start_time = rfc3339_from_unix_ms(e.start_time_unix_ms());
  n.end_time = e.end_time_unix_ms() > 0 ? rfc3339_from_unix_ms(e.end_time_unix_ms()) : rfc3339(now);
  const std::string output = valid_utf8(e.output());
  n.output_hash = output_hash(output);
  n.output = std::string(utf8_prefix(output, budget));
  n.output_bytes = e.output_bytes_total();
  n.truncated = e.truncated() || n.output.size() < output.size();
}

std::string summary_message(const CommandStatus& s) {
  if (s.targeted == 0) return "spec.selector matched no node; nothing ran";
  if (!s.finished()) {
    std::string m = "running on " + std::to_string(s.running) + " of " + std::to_string(s.targeted) + " node(s)";
    if (s.pending > 0) m += ", " + std::to_string(s.pending) + " waiting for a slot";
    if (s.succeeded + s.failed > 0)
      m += ", " + std::to_string(s.succeeded) + " succeeded, " + std::to_string(s.failed) + " failed";
    if (s.skipped > 0) m += ", " + std::to_string(s.skipped) + " skipped (failure budget exceeded)";
    return m;
  }
  if (s.failed == 0 && s.skipped == 0) return "succeeded on all " + std::to_string(s.targeted) + " node(s)";
  std::string failed_list;
  int listed = 0;
  for (const auto& n : s.nodes) {
    if (n.phase != Phase::failed) continue;
    if (listed++ == 5) {
      failed_list += ", ...";
      break;
    }
    failed_list += (failed_list.empty() ? "" : ", ") + n.name + " (" + n.reason + ")";
  }
  std::string m = "failed on " + std::to_string(s.failed) + " of " + std::to_string(s.targeted) + " node(s)";
  if (!failed_list.empty()) m += ": " + failed_list;
  if (s.skipped > 0) m += "; " + std::to_string(s.skipped) + " skipped (failure budget exceeded)";
  return m;
}

TtlCheck ttl_check(const rapidjson::Value& object, Clock::time_point now) {
  TtlCheck check;
  const auto meta = parse_command_meta(object);
  const auto spec = parse_command_spec(object);
  if (!meta || !spec || !spec->ttl_seconds_after_finished || meta->being_deleted) return check;
  const CommandStatus status = parse_status(object);
  if (!status.finished() || status.observed_generation != meta->generation) return check;
  const auto completed = parse_rfc3339(status.completion_time);
  if (!completed) return check;
  const auto due = *completed + std::chrono::seconds(*spec->ttl_seconds_after_finished);
  if (due <= now) {
    check.due = true;
    return check;
  }
  check.wait = std::chrono::ceil<std::chrono::milliseconds>(due - now);
  return check;
}

}  // namespace jarvis::controller
