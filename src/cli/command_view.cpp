#include "cli/command_view.hpp"

#include "common/json.hpp"

namespace jarvis::cli {

namespace {

std::string text(const rapidjson::Value& v, JsonPath path) { return std::string(string_at(v, path).value_or("")); }
int count(const rapidjson::Value& v, std::string_view field) {
  return static_cast<int>(int_at(v, {"status", field}).value_or(0));
}
std::optional<int> small_int(const rapidjson::Value& v, std::string_view field) {
  auto value = int_at(v, {field});
  if (!value) return std::nullopt;
  return static_cast<int>(*value);
}

}  // namespace

CommandView read_command_view(const rapidjson::Value& command) {
  CommandView view;
  view.ns = text(command, {"metadata", "namespace"});
  view.name = text(command, {"metadata", "name"});
  view.uid = text(command, {"metadata", "uid"});
  view.generation = int_at(command, {"metadata", "generation"}).value_or(0);
  view.being_deleted = value_at(command, {"metadata", "deletionTimestamp"}) != nullptr;
  view.command = text(command, {"spec", "command"});
  view.observed_generation = int_at(command, {"status", "observedGeneration"}).value_or(0);
  view.phase = text(command, {"status", "phase"});
  view.message = text(command, {"status", "message"});
  view.targeted = count(command, "targeted");
  view.running = count(command, "running");
  view.succeeded = count(command, "succeeded");
  view.failed = count(command, "failed");
  view.skipped = count(command, "skipped");
  view.pending = count(command, "pending");
  if (const auto* nodes = value_at(command, {"status", "nodes"}); nodes && nodes->IsArray()) {
    for (const auto& n : nodes->GetArray()) {
      if (!n.IsObject()) continue;
      NodeResult node;
      node.name = text(n, {"name"});
      node.phase = text(n, {"phase"});
      node.reason = text(n, {"reason"});
      node.message = text(n, {"message"});
      node.exit_code = small_int(n, "exitCode");
      node.signal = small_int(n, "signal");
      node.output = text(n, {"output"});
      node.truncated = bool_at(n, {"truncated"}).value_or(false);
      node.output_bytes = uint_at(n, {"outputBytes"});
      view.nodes.push_back(std::move(node));
    }
  }
  if (const auto* groups = value_at(command, {"status", "groups"}); groups && groups->IsArray()) {
    for (const auto& g : groups->GetArray()) {
      if (!g.IsObject()) continue;
      ResultGroup group;
      group.nodes = text(g, {"nodes"});
      group.count = static_cast<int>(int_at(g, {"count"}).value_or(0));
      group.phase = text(g, {"phase"});
      group.exit_code = small_int(g, "exitCode");
      group.output = text(g, {"output"});
      group.others = bool_at(g, {"others"}).value_or(false);
      view.groups.push_back(std::move(group));
    }
  }
  // A status without counts (an older controller mid-write): count from the node entries.
  if (view.targeted == 0 && !view.nodes.empty()) {
    view.targeted = static_cast<int>(view.nodes.size());
    for (const auto& n : view.nodes) {
      view.succeeded += n.phase == "Succeeded";
      view.failed += n.phase == "Failed";
      view.skipped += n.phase == "Skipped";
      view.running += n.phase == "Running";
    }
  }
  return view;
}

}  // namespace jarvis::cli
