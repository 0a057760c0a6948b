// The Command's status subresource: the durable record of what the controller has dispatched and what each
// node answered. Exactly-once rests on it: a node whose entry says it was dispatched for the observed
// generation is never started again, only waited for.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <rapidjson/document.h>

namespace jarvis::controller {

enum class Phase { pending, running, succeeded, failed };
std::string_view to_string(Phase phase);

// Why a node entry is in its phase (status.nodes[].reason).
namespace reason {
inline constexpr std::string_view dispatched = "Dispatched";           // recorded before Start is sent
inline constexpr std::string_view exited = "Exited";
inline constexpr std::string_view signaled = "Signaled";
inline constexpr std::string_view timed_out = "TimedOut";
inline constexpr std::string_view canceled = "Canceled";
inline constexpr std::string_view start_failed = "StartFailed";
inline constexpr std::string_view agent_not_found = "AgentNotFound";
inline constexpr std::string_view agent_unreachable = "AgentUnreachable";
inline constexpr std::string_view agent_tls_failed = "AgentTLSFailed";  // the TLS handshake failed
inline constexpr std::string_view interrupted = "Interrupted";     // the agent stopped while it ran
inline constexpr std::string_view lost = "Lost";                   // unknowable: the agent's record is gone
}  // namespace reason

struct NodeStatus {
  std::string name;
  Phase phase = Phase::pending;
  std::string reason;
  std::string message;
  std::string execution_id;
  std::optional<int> exit_code;
  std::optional<int> signal;
  std::string start_time;  // RFC 3339, empty when unknown
  std::string end_time;
  std::string output;  // at most CommandStatus::output_bytes_per_node bytes, valid UTF-8
  std::optional<std::uint64_t> output_bytes;
  bool truncated = false;

  bool finished() const { return phase == Phase::succeeded || phase == Phase::failed; }
  bool operator==(const NodeStatus&) const = default;
};

struct CommandStatus {
  std::optional<Phase> phase;  // absent on a Command the controller has not seen yet
  std::int64_t observed_generation = 0;
  std::string start_time;
  std::string completion_time;
  std::string message;
  int targeted = 0;
  int succeeded = 0;
  int failed = 0;
  int running = 0;
  std::uint64_t output_bytes_per_node = 0;
  std::vector<NodeStatus> nodes;  // sorted by name

  NodeStatus* find(std::string_view node);
  bool finished() const { return phase == Phase::succeeded || phase == Phase::failed; }
  bool operator==(const CommandStatus&) const = default;
};

// Reads `.status` of a Command object; a missing or foreign-shaped status reads as empty.
CommandStatus parse_status(const rapidjson::Value& command);

// The status as a JSON object. In compact form (large fleets), entries of succeeded nodes keep only name,
// phase and exit code, so 5,000 nodes stay far below the API server's object-size limit.
std::string status_json(const CommandStatus& status);

// Recomputes counts and, once every node is finished, the Command's phase (Succeeded when all succeeded).
void recount(CommandStatus& status);

// How many bytes of output each node entry may keep so the whole status stays small: 4 KiB each for small
// fleets, shrinking with the fleet to a total of about 256 KiB, and none at all beyond 1,000 nodes (the
// per-node events carry the output).
std::uint64_t output_budget_per_node(std::size_t targeted);
inline constexpr std::size_t compact_status_above_nodes = 500;

}  // namespace jarvis::controller
