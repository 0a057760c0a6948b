// The seed's event contract: one core/v1 Event per node and execution, reason `<command-name>-<node-name>`,
// message `❯ <command>` + newline + output, so `kubectl get events` and `kubectl describe command` read
// as in the seed's README. Messages are bounded and always valid UTF-8, so binary output can never make
// the event write fail.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "controller/command_spec.hpp"
#include "controller/command_status.hpp"
#include "controller/node_outcome.hpp"

namespace jarvis::controller {

inline constexpr std::string_view kEventComponent = "command-controller";
// core/v1 Events created without eventTime have no length limits; these keep them readable and far from
// the API server's request-size limit. 128 is the limit events.k8s.io/v1 applies to reasons.
inline constexpr std::size_t kMaxEventMessageBytes = 16 * 1024;
inline constexpr std::size_t kMaxEventReasonBytes = 128;

struct EventSpec {
  std::string reason;
  std::string type;  // "Normal" or "Warning"
  std::string message;
  // Which event of the run this is (command_status.hpp, event_key): with the Command's uid and generation it
  // fixes the Event's name, so posting the same event twice creates it once.
  std::string key;
};

// `<command-name>-<node-name>`. When that is longer than kMaxEventReasonBytes, its first 119 bytes, '-' and
// 8 hex digits of a hash of the whole, so two long names still give two reasons.
std::string event_reason(std::string_view command_name, std::string_view node_name);

// The event for a node's finished run: Normal only for exit code 0. The message is `❯ <command>`, a
// newline, the output without trailing newlines (or `<no output>`), and for anything but success a last
// line saying how it ended (`exit code 3`, `killed by signal 9 (SIGKILL)`, `timed out after 30s`, ...).
// Output too long for kMaxEventMessageBytes keeps its head and tail around a
// `[jarvis: N bytes omitted]` line, as the agent does.
EventSpec make_node_event(const CommandMeta& command, std::string_view command_text, std::string_view node_name,
                          const NodeOutcome& outcome);

// The seed's warning for a targeted node without a ready agent: `Agent not found for node X (skipping)`.
EventSpec make_agent_not_found_event(const CommandMeta& command, std::string_view node_name);

// The Command's selector matched no node, so nothing runs (reason NoMatchingNodes).
EventSpec make_no_matching_nodes_event(std::string_view command_text);

// The spec cannot be run; `problem` is the parse/validation error (reason InvalidSpec).
EventSpec make_invalid_spec_event(std::string_view problem);

// The one summary event of a finished run: reason Completed (Normal, every node succeeded), Failed, or
// FailureBudgetExceeded (Warning); message `❯ <command>`, status.message, then the folded groups
// (result_groups.hpp), at most kMaxEventMessageBytes.
EventSpec make_summary_event(std::string_view command_text, const CommandStatus& status);

// `<command-name>.<16 hex digits>`, client-go's shape, shortened so it stays a valid name.
std::string event_name(std::string_view command_name, std::uint64_t suffix);

// The Event's name for `event` of the run of `command` (its uid and generation): the same on every post, by any
// controller, so a second post of the same event is refused 409 AlreadyExists instead of making a copy.
std::string event_object_name(const CommandMeta& command, std::string_view event_key);

// The JSON body for POST /api/v1/namespaces/<command.ns>/events (no eventTime, so no length limits and no
// reportingInstance needed), named by event_object_name.
std::string event_json(const CommandMeta& command, const EventSpec& event, std::chrono::system_clock::time_point now);

}  // namespace jarvis::controller
