#include "controller/command_status.hpp"

#include <algorithm>

#include "common/json.hpp"

namespace jarvis::controller {

std::string_view to_string(Phase phase) {
  switch (phase) {
    case Phase::pending: return "Pending";
    case Phase::running: return "Running";
    case Phase::succeeded: return "Succeeded";
    case Phase::failed: return "Failed";
  }
  return "Pending";
}

namespace {

std::optional<Phase> parse_phase(std::string_view s) {
  if (s == "Pending") return Phase::pending;
  if (s == "Running") return Phase::running;
  if (s == "Succeeded") return Phase::succeeded;
  if (s == "Failed") return Phase::failed;
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

}  // namespace

NodeStatus* CommandStatus::find(std::string_view node) {
  auto it = std::lower_bound(nodes.begin(), nodes.end(), node,
                             [](const NodeStatus& n, std::string_view name) { return n.name < name; });
  return it != nodes.end() && it->name == node ? &*it : nullptr;
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
      s.nodes.push_back(std::move(ns));
    }
  }
  std::sort(s.nodes.begin(), s.nodes.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  return s;
}

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
  w.Key("targeted");
  w.Int(s.targeted);
  w.Key("succeeded");
  w.Int(s.succeeded);
  w.Key("failed");
  w.Int(s.failed);
  w.Key("running");
  w.Int(s.running);
  w.Key("outputBytesPerNode");
  w.Uint64(s.output_bytes_per_node);
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
    if (!(compact && n.phase == Phase::succeeded)) {
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
  s.succeeded = s.failed = s.running = 0;
  for (const auto& n : s.nodes) {
    if (n.phase == Phase::succeeded) ++s.succeeded;
    else if (n.phase == Phase::failed) ++s.failed;
    else ++s.running;
  }
  if (s.running == 0) s.phase = s.failed == 0 && s.targeted > 0 ? Phase::succeeded : Phase::failed;
  else s.phase = Phase::running;
}

std::uint64_t output_budget_per_node(std::size_t targeted) {
  constexpr std::uint64_t per_node_max = 4096, total = 256 * 1024, min_useful = 256;
  if (targeted == 0) return per_node_max;
  const std::uint64_t share = std::min<std::uint64_t>(per_node_max, total / targeted);
  return share < min_useful ? 0 : share;
}

}  // namespace jarvis::controller
