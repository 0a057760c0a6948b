// The Command's status subresource: the durable record of what the controller has dispatched and what each
// node answered. Exactly-once rests on it: a node whose entry says it was dispatched for the observed
// generation is never started again, only waited for.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <rapidjson/document.h>

namespace jarvis::controller {

// A node's phase (Pending: waiting for a slot in the rollout window; Skipped: never started because the failure
// budget was exceeded). A Command's phase is one of Pending, Running, Succeeded, Failed.
enum class Phase { pending, running, succeeded, failed, skipped };
std::string_view to_string(Phase phase);

// Why a node entry is in its phase (status.nodes[].reason).
namespace reason {
inline constexpr std::string_view queued = "Queued";                   // Pending: waiting for a window slot
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
inline constexpr std::string_view failure_budget_exceeded = "FailureBudgetExceeded";  // Skipped: never started
}  // namespace reason

// status.conditions[] types (metav1.Condition's shape). Complete and Failed are set once the run is over
// (exactly one of them, status "True"); FailureBudgetExceeded as soon as failures exceed spec.maxFailures.
namespace condition {
inline constexpr std::string_view complete = "Complete";
inline constexpr std::string_view failed = "Failed";
inline constexpr std::string_view failure_budget_exceeded = "FailureBudgetExceeded";
}  // namespace condition

struct Condition {
  std::string type;
  std::string status;  // "True" or "False"
  std::string reason;
  std::string message;
  std::string last_transition_time;  // RFC 3339
  std::int64_t observed_generation = 0;
  bool operator==(const Condition&) const = default;
};

// Nodes folded by identical result (result_groups.hpp): status.groups[].
struct ResultGroup {
  std::string nodes;  // compact range form, e.g. kind-worker[2-5,7]
  int count = 0;
  std::string phase;   // empty for the others entry
  std::string reason;
  std::optional<int> exit_code;
  std::string output;       // once for the whole group (bounded); empty for the others entry
  std::string output_hash;  // the key the nodes were folded on (NodeStatus::output_hash)
  bool others = false;      // the last entry: every node not in the groups before it
  bool operator==(const ResultGroup&) const = default;
};

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
  // 16 hex digits of FNV-1a 64 of the output the agent reported (before the status's per-node cut); empty
  // without output. Nodes are folded into status.groups on it, also when the entry keeps no output.
  std::string output_hash;

  bool finished() const { return phase == Phase::succeeded || phase == Phase::failed || phase == Phase::skipped; }
  bool started() const { return !execution_id.empty(); }
  bool operator==(const NodeStatus&) const = default;
};

// The events a status write recorded results for and whose Event is not yet known to exist
// (status.eventsPending): node events by node name, the Command's own events by kind. The write that records a
// result adds its event here; once the event is posted (or found to exist: its name is fixed, event_message.hpp)
// a later write removes it. A controller that starts, takes over, or gave up posting posts what is left here, so
// every recorded result gets its event, and the fixed name keeps it to one.
namespace event_key {
inline constexpr std::string_view node_prefix = "node/";
inline constexpr std::string_view summary = "command/Summary";
inline constexpr std::string_view invalid_spec = "command/InvalidSpec";
inline constexpr std::string_view no_matching_nodes = "command/NoMatchingNodes";
inline std::string node(std::string_view name) { return std::string(node_prefix) + std::string(name); }
}  // namespace event_key

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
  int pending = 0;
  int skipped = 0;
  std::uint64_t output_bytes_per_node = 0;
  std::vector<Condition> conditions;
  std::vector<ResultGroup> groups;  // largest first, bounded, the others entry last
  std::vector<NodeStatus> nodes;  // sorted by name
  std::set<std::string> events_pending;  // event_key values

  NodeStatus* find(std::string_view node);
  const NodeStatus* find(std::string_view node) const { return const_cast<CommandStatus*>(this)->find(node); }
  const Condition* condition(std::string_view type) const;
  bool finished() const { return phase == Phase::succeeded || phase == Phase::failed; }
  bool operator==(const CommandStatus&) const = default;
};

// Reads `.status` of a Command object; a missing or foreign-shaped status reads as empty.
CommandStatus parse_status(const rapidjson::Value& command);

// The status as a JSON object. In compact form (large fleets), entries of succeeded nodes keep only name,
// phase and exit code, so 5,000 nodes stay far below the API server's object-size limit.
std::string status_json(const CommandStatus& status);

// Recomputes counts and, once every node is finished, the Command's phase (Succeeded when all succeeded;
// Failed when any failed or was skipped, or nothing was targeted).
void recount(CommandStatus& status);

// Sets the condition `type` to status "True" with reason and message. lastTransitionTime is `now` when the
// condition is new or was not "True", else kept.
void set_condition(CommandStatus& status, std::string_view type, std::string_view reason, std::string message,
                   std::string_view now);

// How many bytes of output each node entry may keep so the whole status stays small: 4 KiB each for small
// fleets, shrinking with the fleet to a total of about 256 KiB, and none at all beyond 1,000 nodes (the
// per-node events carry the output).
std::uint64_t output_budget_per_node(std::size_t targeted);
inline constexpr std::size_t compact_status_above_nodes = 500;

}  // namespace jarvis::controller
