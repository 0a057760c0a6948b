// What the terminal shows of a Command: its identity, counts, per-node results and folded groups, read from
// the object the API server returns. Tolerant of both status shapes: with issue 14's fields (skipped,
// pending, groups) and without them (a controller that only writes nodes[]).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <rapidjson/document.h>

namespace jarvis::cli {

struct NodeResult {
  std::string name;
  std::string phase;   // Pending, Running, Succeeded, Failed, Skipped ("" when unknown)
  std::string reason;  // Exited, TimedOut, AgentNotFound, ...
  std::string message;
  std::optional<int> exit_code;
  std::optional<int> signal;
  std::string output;
  bool truncated = false;
  std::optional<std::uint64_t> output_bytes;

  bool finished() const { return phase == "Succeeded" || phase == "Failed" || phase == "Skipped"; }
};

// Nodes with the same (phase, exit code, output), as status.groups[] has them or as fold_nodes() makes them.
struct ResultGroup {
  std::string nodes;  // "kind-worker[2-5,7]" from the controller, or "a,b,c"
  int count = 0;
  std::string phase;
  std::optional<int> exit_code;
  std::string output;
  bool others = false;  // the final overflow entry of a bounded status.groups
};

struct CommandView {
  std::string ns, name, uid, command;
  std::int64_t generation = 0;
  std::int64_t observed_generation = 0;
  bool being_deleted = false;
  std::string phase;  // "" until the controller has seen it
  std::string message;
  int targeted = 0, running = 0, succeeded = 0, failed = 0, skipped = 0, pending = 0;
  std::vector<NodeResult> nodes;  // as the status lists them (sorted by name)
  std::vector<ResultGroup> groups;  // status.groups when the controller writes them

  // The controller has a final phase for the current generation.
  bool finished() const {
    return observed_generation == generation && (phase == "Succeeded" || phase == "Failed");
  }
  // Nodes done (succeeded, failed or skipped) out of `targeted`.
  int done() const { return succeeded + failed + skipped; }
  bool all_succeeded() const { return phase == "Succeeded" && failed == 0 && skipped == 0; }
};

CommandView read_command_view(const rapidjson::Value& command);

}  // namespace jarvis::cli
