#include "controller/plan.hpp"

#include <algorithm>

#include "common/time_format.hpp"
#include "common/utf8.hpp"
#include "controller/execution_id.hpp"

namespace jarvis::controller {

namespace {

using Clock = std::chrono::system_clock;

Plan invalid_spec(const CommandMeta& meta, const CommandStatus& current, const std::string& problem, Clock::time_point now) {
  Plan p;
  if (current.observed_generation == meta.generation && current.finished()) return p;
  p.problem = problem;
  CommandStatus s;
  s.phase = Phase::failed;
  s.observed_generation = meta.generation;
  s.start_time = s.completion_time = rfc3339(now);
  s.message = "invalid spec, nothing ran: " + problem;
  p.action = Plan::Action::update;
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
  for (const auto& node : targets) {
    NodeStatus n;
    n.name = node;
    if (auto agent = cluster.agents.find(node); agent != cluster.agents.end()) {
      n.phase = Phase::running;
      n.reason = reason::dispatched;
      n.execution_id = execution_id(cmd.meta.uid, cmd.meta.generation, node);
      p.executions.push_back({node, agent->second, n.execution_id, false});
    } else {
      n.phase = Phase::failed;
      n.reason = reason::agent_not_found;
      n.message = "Agent not found for node " + node + " (skipping)";
      n.end_time = time;
      p.events.push_back(make_agent_not_found_event(cmd.meta, node));
    }
    s.nodes.push_back(std::move(n));
  }
  if (targets.empty()) p.events.push_back(make_no_matching_nodes_event(cmd.spec.command));
  recount(s);
  if (s.finished()) s.completion_time = time;
  s.message = summary_message(s);
  p.status = std::move(s);
  return p;
}

Plan progress(const std::string& key, const Command& cmd, const CommandStatus& current, const ClusterView& cluster,
              const ExecutionView& executions, Clock::time_point now) {
  Plan p;
  if (current.finished()) {
    p.stop_trackers = true;
    return p;
  }
  CommandStatus next = current;
  for (auto& n : next.nodes) {
    if (n.finished() || n.execution_id.empty()) continue;
    if (const TrackerResult* result = executions.delivered(key, n.execution_id)) {
      record_result(n, *result, next.output_bytes_per_node, now);
      p.events.push_back(make_node_event(cmd.meta, cmd.spec.command, n.name, result->outcome));
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
    record_result(n, gone, next.output_bytes_per_node, now);
    p.events.push_back(make_node_event(cmd.meta, cmd.spec.command, n.name, gone.outcome));
  }
  if (next != current) {
    recount(next);
    if (next.finished()) next.completion_time = rfc3339(now);
    next.message = summary_message(next);
    p.status = std::move(next);
  }
  if (p.status || !p.executions.empty()) p.action = Plan::Action::update;
  // Read conservatively: an unreadable time is the epoch, which an agent without the record refuses (Lost).
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
  if (!spec) return invalid_spec(*meta, status, spec.error().message, in.now);
  spec_read = *spec;
  const Command command{std::move(*meta), std::move(*spec)};
  if (status.observed_generation != command.meta.generation) return dispatch(command, status, *in.cluster, in.now);
  return progress(in.key, command, status, *in.cluster, *in.executions, in.now);
}

}  // namespace

Plan plan(const PlanInput& in) {
  std::optional<CommandMeta> meta;
  std::optional<CommandSpec> spec;
  Plan p = decide(in, meta, spec);
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
  n.output = std::string(utf8_prefix(output, budget));
  n.output_bytes = e.output_bytes_total();
  n.truncated = e.truncated() || n.output.size() < output.size();
}

std::string summary_message(const CommandStatus& s) {
  if (s.targeted == 0) return "spec.selector matched no node; nothing ran";
  if (!s.finished()) return "running on " + std::to_string(s.running) + " of " + std::to_string(s.targeted) + " node(s)";
  if (s.failed == 0) return "succeeded on all " + std::to_string(s.targeted) + " node(s)";
  std::string failed_nodes;
  int listed = 0;
  for (const auto& n : s.nodes) {
    if (n.phase != Phase::failed) continue;
    if (listed++ == 5) {
      failed_nodes += ", ...";
      break;
    }
    failed_nodes += (failed_nodes.empty() ? "" : ", ") + n.name + " (" + n.reason + ")";
  }
  return "failed on " + std::to_string(s.failed) + " of " + std::to_string(s.targeted) + " node(s): " + failed_nodes;
}

}  // namespace jarvis::controller
