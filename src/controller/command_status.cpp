#include "controller/command_status.hpp"

#include <algorithm>

#include "common/json.hpp"
#include "common/node_ranges.hpp"

namespace jarvis::controller {

std::string_view to_string(Phase phase) {
  switch (phase) {
    case Phase::pending: return "Pending";
    case Phase::running: return "Running";
    case Phase::succeeded: return "Succeeded";
    case Phase::failed: return "Failed";
    case Phase::skipped: return "Skipped";
  }
  return "Pending";
}

namespace {

std::optional<Phase> parse_phase(std::string_view s) {
  if (s == "Pending") return Phase::pending;
  if (s == "Running") return Phase::running;
  if (s == "Succeeded") return Phase::succeeded;
  if (s == "Failed") return Phase::failed;
  if (s == "Skipped") return Phase::skipped;
  return std::nullopt;
}

std::string str(const rapidjson::Value& obj, std::string_view key) {
  return std::string(string_at(obj, {key}).value_or(""));
}

std::optional<int> small_int(const rapidjson::Value& obj, std::string_view key) {
  const auto v = int_at(obj, {key});
  return v ? std::optional<int>(static_cast<int>(*v)) : std::nullopt;
}

// Empty strings are left out: an absent field reads back as empty.
void put(JsonWriter& w, std::string_view key, std::string_view value) {
  if (!value.empty()) write_member(w, key, value);
}

void put_int(JsonWriter& w, std::string_view key, int value) {
  w.Key(key.data(), static_cast<rapidjson::SizeType>(key.size()));
  w.Int(value);
}

std::vector<Condition> parse_conditions(const rapidjson::Value& v) {
  std::vector<Condition> out;
  auto list = v.FindMember("conditions");
  if (list == v.MemberEnd() || !list->value.IsArray()) return out;
  for (const auto& c : list->value.GetArray()) {
    if (!c.IsObject() || str(c, "type").empty()) continue;
    out.push_back(Condition{str(c, "type"), str(c, "status"), str(c, "reason"), str(c, "message"),
                            str(c, "lastTransitionTime"), int_at(c, {"observedGeneration"}).value_or(0)});
  }
  return out;
}

std::vector<ResultGroup> parse_groups(const rapidjson::Value& v) {
  std::vector<ResultGroup> out;
  auto list = v.FindMember("groups");
  if (list == v.MemberEnd() || !list->value.IsArray()) return out;
  for (const auto& g : list->value.GetArray()) {
    if (!g.IsObject()) continue;
    ResultGroup r;
    r.nodes = str(g, "nodes");
    r.count = small_int(g, "count").value_or(0);
    r.phase = str(g, "phase");
    r.reason = str(g, "reason");
    r.exit_code = small_int(g, "exitCode");
    r.output = str(g, "output");
    r.output_hash = str(g, "outputHash");
    r.others = bool_at(g, {"others"}).value_or(false);
    out.push_back(std::move(r));
  }
  return out;
}

void write_conditions(JsonWriter& w, const std::vector<Condition>& conditions) {
  w.Key("conditions");
  w.StartArray();
  for (const auto& c : conditions) {
    w.StartObject();
    write_member(w, "type", c.type);
    write_member(w, "status", c.status);
    put(w, "reason", c.reason);
    put(w, "message", c.message);
    put(w, "lastTransitionTime", c.last_transition_time);
    if (c.observed_generation != 0) {
      w.Key("observedGeneration");
      w.Int64(c.observed_generation);
    }
    w.EndObject();
  }
  w.EndArray();
}

void write_groups(JsonWriter& w, const std::vector<ResultGroup>& groups) {
  w.Key("groups");
  w.StartArray();
  for (const auto& g : groups) {
    w.StartObject();
    put(w, "nodes", g.nodes);
    put_int(w, "count", g.count);
    if (g.others) {
      w.Key("others");
      w.Bool(true);
    }
    put(w, "phase", g.phase);
    put(w, "reason", g.reason);
    if (g.exit_code) put_int(w, "exitCode", *g.exit_code);
    put(w, "output", g.output);
    put(w, "outputHash", g.output_hash);
    w.EndObject();
  }
  w.EndArray();
}

}  // namespace

NodeStatus* CommandStatus::find(std::string_view node) {
  auto it = std::lower_bound(nodes.begin(), nodes.end(), node,
                             [](const NodeStatus& n, std::string_view name) { return n.name < name; });
  return it != nodes.end() && it->name == node ? &*it : nullptr;
}

const Condition* CommandStatus::condition(std::string_view type) const {
  for (const auto& c : conditions)
    if (c.type == type) return &c;
  return nullptr;
}

CommandStatus parse_status(const rapidjson::Value& command) {
  CommandStatus s;
  if (!command.IsObject()) return s;
  auto st = command.FindMember("status");
  if (st == command.MemberEnd() || !st->value.IsObject()) return s;
  const auto& v = st->value;
  s.phase = parse_phase(str(v, "phase"));
  s.observed_generation = int_at(v, {"observedGeneration"}).value_or(0);
  s.start_time = str(v, "startTime");
  s.completion_time = str(v, "completionTime");
  s.message = str(v, "message");
  s.targeted = small_int(v, "targeted").value_or(0);
  s.succeeded = small_int(v, "succeeded").value_or(0);
  s.failed = small_int(v, "failed").value_or(0);
  s.running = small_int(v, "running").value_or(0);
  s.pending = small_int(v, "pending").value_or(0);
  s.skipped = small_int(v, "skipped").value_or(0);
  s.conditions = parse_conditions(v);
  s.groups = parse_groups(v);
  s.output_bytes_per_node = uint_at(v, {"outputBytesPerNode"}).value_or(0);
  auto nodes = v.FindMember("nodes");
  if (nodes != v.MemberEnd() && nodes->value.IsArray()) {
    for (const auto& n : nodes->value.GetArray()) {
      if (!n.IsObject()) continue;
      NodeStatus ns;
      ns.name = str(n, "name");
      if (ns.name.empty()) continue;
      ns.phase = parse_phase(str(n, "phase")).value_or(Phase::pending);
      ns.reason = str(n, "reason");
      ns.message = str(n, "message");
      ns.execution_id = str(n, "executionId");
      ns.exit_code = small_int(n, "exitCode");
      ns.signal = small_int(n, "signal");
      ns.start_time = str(n, "startTime");
      ns.end_time = str(n, "endTime");
      ns.output = str(n, "output");
      ns.output_bytes = uint_at(n, {"outputBytes"});
      ns.truncated = bool_at(n, {"truncated"}).value_or(false);
      ns.output_hash = str(n, "outputHash");
      s.nodes.push_back(std::move(ns));
    }
  }
  std::sort(s.nodes.begin(), s.nodes.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  if (auto pending = v.FindMember("eventsPending"); pending != v.MemberEnd() && pending->value.IsObject()) {
    for (const auto& name : unfold_node_names(str(pending->value, "nodes")))
      if (!name.empty()) s.events_pending.insert(event_key::node(name));
    if (auto kinds = pending->value.FindMember("command");
        kinds != pending->value.MemberEnd() && kinds->value.IsArray()) {
      for (const auto& kind : kinds->value.GetArray())
        if (kind.IsString() && kind.GetStringLength() > 0)
          s.events_pending.insert("command/" + std::string(kind.GetString(), kind.GetStringLength()));
    }
  }
  return s;
}

namespace {

// status.eventsPending: {"nodes": "<compact range form>", "command": ["Summary", ...]}; absent when empty.
void write_events_pending(JsonWriter& w, const std::set<std::string>& pending) {
  if (pending.empty()) return;
  std::vector<std::string> nodes;
  std::vector<std::string> kinds;
  for (const auto& key : pending) {
    if (key.starts_with(event_key::node_prefix)) nodes.push_back(key.substr(event_key::node_prefix.size()));
    else if (key.starts_with("command/")) kinds.push_back(key.substr(8));
  }
  w.Key("eventsPending");
  w.StartObject();
  if (!nodes.empty()) write_member(w, "nodes", fold_node_names(std::move(nodes)));
  if (!kinds.empty()) {
    w.Key("command");
    w.StartArray();
    for (const auto& k : kinds) write_string(w, k);
    w.EndArray();
  }
  w.EndObject();
}

}  // namespace

std::string status_json(const CommandStatus& s) {
  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  const bool compact = s.nodes.size() > compact_status_above_nodes;
  w.StartObject();
  if (s.phase) put(w, "phase", to_string(*s.phase));
  w.Key("observedGeneration");
  w.Int64(s.observed_generation);
  put(w, "startTime", s.start_time);
  put(w, "completionTime", s.completion_time);
  put(w, "message", s.message);
  put_int(w, "targeted", s.targeted);
  put_int(w, "running", s.running);
  put_int(w, "succeeded", s.succeeded);
  put_int(w, "failed", s.failed);
  put_int(w, "skipped", s.skipped);
  put_int(w, "pending", s.pending);
  w.Key("outputBytesPerNode");
  w.Uint64(s.output_bytes_per_node);
  write_conditions(w, s.conditions);
  write_groups(w, s.groups);
  write_events_pending(w, s.events_pending);
  w.Key("nodes");
  w.StartArray();
  for (const auto& n : s.nodes) {
    w.StartObject();
    put(w, "name", n.name);
    put(w, "phase", to_string(n.phase));
    if (n.exit_code) {
      w.Key("exitCode");
      w.Int(*n.exit_code);
    }
    put(w, "outputHash", n.output_hash);
    // In compact form a succeeded or waiting node is told by its phase alone (its output is in its group).
    if (!(compact && (n.phase == Phase::succeeded || n.phase == Phase::pending))) {
      put(w, "reason", n.reason);
      put(w, "message", n.message);
      put(w, "executionId", n.execution_id);
      if (n.signal) {
        w.Key("signal");
        w.Int(*n.signal);
      }
      put(w, "startTime", n.start_time);
      put(w, "endTime", n.end_time);
      put(w, "output", n.output);
      if (n.output_bytes) {
        w.Key("outputBytes");
        w.Uint64(*n.output_bytes);
      }
      if (n.truncated) {
        w.Key("truncated");
        w.Bool(true);
      }
    }
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return json_text(buf);
}

void recount(CommandStatus& s) {
  s.targeted = static_cast<int>(s.nodes.size());
  s.succeeded = s.failed = s.running = s.pending = s.skipped = 0;
  for (const auto& n : s.nodes) {
    switch (n.phase) {
      case Phase::succeeded: ++s.succeeded; break;
      case Phase::failed: ++s.failed; break;
      case Phase::skipped: ++s.skipped; break;
      case Phase::pending: ++s.pending; break;
      case Phase::running: ++s.running; break;
    }
  }
  if (s.running + s.pending == 0)
    s.phase = s.failed == 0 && s.skipped == 0 && s.targeted > 0 ? Phase::succeeded : Phase::failed;
  else s.phase = Phase::running;
}

void set_condition(CommandStatus& s, std::string_view type, std::string_view reason, std::string message,
                   std::string_view now) {
  auto it = std::find_if(s.conditions.begin(), s.conditions.end(), [&](const Condition& c) { return c.type == type; });
  if (it == s.conditions.end()) {
    Condition added;
    added.type = std::string(type);
    it = s.conditions.insert(s.conditions.end(), std::move(added));
  }
  if (it->status != "True") it->last_transition_time = std::string(now);
  it->status = "True";
  it->reason = std::string(reason);
  it->message = std::move(message);
  it->observed_generation = s.observed_generation;
}

std::uint64_t output_budget_per_node(std::size_t targeted) {
  constexpr std::uint64_t per_node_max = 4096, total = 256 * 1024, min_useful = 256;
  if (targeted == 0) return per_node_max;
  const std::uint64_t share = std::min<std::uint64_t>(per_node_max, total / targeted);
  return share < min_useful ? 0 : share;
}

}  // namespace jarvis::controller
