#include "controller/event_message.hpp"

#include <csignal>
#include <cstdio>
#include <cstring>

#include "common/hash.hpp"
#include "common/json.hpp"
#include "common/time_format.hpp"
#include "common/utf8.hpp"
#include "controller/result_groups.hpp"

namespace jarvis::controller {
namespace {

constexpr std::string_view kPrompt = "❯ ";
constexpr std::string_view kNoOutput = "<no output>";
// The command line is shown in full unless it alone would crowd out the output.
constexpr std::size_t kMaxCommandLineBytes = 4 * 1024;
constexpr std::size_t kMaxEndingLineBytes = 1024;
constexpr std::size_t kMaxNameBytes = 253;

std::string hex(std::uint64_t value, int digits) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%0*llx", digits, static_cast<unsigned long long>(value));
  return buf;
}

std::string_view trim_trailing_newlines(std::string_view s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

// Longest suffix no longer than max_bytes that starts at a character boundary of valid UTF-8.
std::string_view utf8_suffix(std::string_view in, std::size_t max_bytes) {
  if (in.size() <= max_bytes) return in;
  std::size_t start = in.size() - max_bytes;
  while (start < in.size() && (static_cast<unsigned char>(in[start]) & 0xC0) == 0x80) ++start;
  return in.substr(start);
}

std::string omission_line(std::size_t omitted) {
  return "[jarvis: " + std::to_string(omitted) + " bytes omitted]\n";
}

// `text` (valid UTF-8) cut to at most `budget` bytes by dropping its middle.
std::string bounded(std::string_view text, std::size_t budget) {
  if (text.size() <= budget) return std::string(text);
  // The marker's digits are bounded by those of text.size().
  const std::size_t marker_bytes = omission_line(text.size()).size() + 1;
  const std::size_t keep = budget > marker_bytes ? budget - marker_bytes : 0;
  const std::string_view head = utf8_prefix(text, keep / 2);
  const std::string_view tail = utf8_suffix(text, keep - keep / 2);
  std::string out(head);
  if (!head.empty() && head.back() != '\n') out += '\n';
  out += omission_line(text.size() - head.size() - tail.size());
  out += tail;
  return out;
}

std::string signal_text(int signal) {
  std::string text = "killed by signal " + std::to_string(signal);
  if (const char* abbrev = sigabbrev_np(signal)) text += std::string(" (SIG") + abbrev + ")";
  return text;
}

std::string with_detail(std::string what, const std::string& detail) {
  if (!detail.empty()) what += ": " + detail;
  return what;
}

// The message's last line for a run that did not succeed; empty for a success.
std::string ending_line(const NodeOutcome& o) {
  using Ending = NodeOutcome::Ending;
  switch (o.ending) {
    case Ending::exited: return o.exit_code == 0 ? std::string() : "exit code " + std::to_string(o.exit_code);
    case Ending::signaled: return signal_text(o.signal);
    case Ending::timed_out:
      return o.timeout_seconds > 0 ? "timed out after " + std::to_string(o.timeout_seconds) + "s"
                                   : with_detail("timed out", o.detail);
    case Ending::canceled: return with_detail("canceled", o.detail);
    case Ending::start_failed: return with_detail("failed to start", o.detail);
    case Ending::interrupted: return with_detail("interrupted", o.detail);
    case Ending::agent_error: return o.detail.empty() ? std::string("no result from the agent") : o.detail;
  }
  return "unknown ending";
}

std::string command_line(std::string_view command_text) {
  std::string line(kPrompt);
  const std::string command = valid_utf8(command_text);
  if (command.size() <= kMaxCommandLineBytes) return line + command;
  return line + std::string(utf8_prefix(command, kMaxCommandLineBytes)) + "…";
}

}  // namespace

std::string event_reason(std::string_view command_name, std::string_view node_name) {
  std::string reason = std::string(command_name) + "-" + std::string(node_name);
  if (reason.size() <= kMaxEventReasonBytes) return reason;
  const std::string suffix = "-" + hex(fnv1a32(reason), 8);
  return reason.substr(0, kMaxEventReasonBytes - suffix.size()) + suffix;
}

EventSpec make_node_event(const CommandMeta& command, std::string_view command_text, std::string_view node_name,
                          const NodeOutcome& outcome) {
  const std::string header = command_line(command_text) + "\n";
  const std::string ending = ending_line(outcome);
  const std::string footer =
      ending.empty() ? std::string() : "\n" + std::string(utf8_prefix(valid_utf8(ending), kMaxEndingLineBytes));
  const std::string output = valid_utf8(trim_trailing_newlines(outcome.output));
  const std::size_t fixed = header.size() + footer.size();
  const std::size_t budget = kMaxEventMessageBytes > fixed ? kMaxEventMessageBytes - fixed : 0;
  std::string body = output.empty() ? std::string(kNoOutput) : bounded(output, budget);
  return EventSpec{event_reason(command.name, node_name), outcome.succeeded() ? "Normal" : "Warning",
                   header + body + footer, event_key::node(node_name)};
}

EventSpec make_agent_not_found_event(const CommandMeta& command, std::string_view node_name) {
  return EventSpec{event_reason(command.name, node_name), "Warning",
                   "Agent not found for node " + std::string(node_name) + " (skipping)", event_key::node(node_name)};
}

EventSpec make_no_matching_nodes_event(std::string_view command_text) {
  return EventSpec{"NoMatchingNodes", "Warning", command_line(command_text) + "\nno node matches spec.selector",
                   std::string(event_key::no_matching_nodes)};
}

EventSpec make_invalid_spec_event(std::string_view problem) {
  return EventSpec{"InvalidSpec", "Warning",
                   "cannot run this Command: " + std::string(utf8_prefix(valid_utf8(problem), kMaxEventMessageBytes / 2)),
                   std::string(event_key::invalid_spec)};
}

EventSpec make_summary_event(std::string_view command_text, const CommandStatus& status) {
  std::string reason = "Completed";
  if (status.condition(condition::failure_budget_exceeded)) reason = "FailureBudgetExceeded";
  else if (status.phase != Phase::succeeded) reason = "Failed";
  const std::string head = command_line(command_text) + "\n" + valid_utf8(status.message) + "\n";
  const std::size_t budget = kMaxEventMessageBytes > head.size() ? kMaxEventMessageBytes - head.size() : 0;
  return EventSpec{reason, reason == "Completed" ? "Normal" : "Warning", head + groups_text(status.groups, budget),
                   std::string(event_key::summary)};
}

std::string event_name(std::string_view command_name, std::uint64_t suffix_value) {
  const std::string suffix = "." + hex(suffix_value, 16);
  return std::string(command_name.substr(0, kMaxNameBytes - suffix.size())) + suffix;
}

std::string event_object_name(const CommandMeta& command, std::string_view event_key) {
  const std::string identity =
      command.uid + "/" + std::to_string(command.generation) + "/" + std::string(event_key);
  return event_name(command.name, fnv1a64(identity));
}

std::string event_json(const CommandMeta& command, const EventSpec& event, std::chrono::system_clock::time_point now) {
  const std::string timestamp = rfc3339(now);
  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  w.StartObject();
  write_member(w, "apiVersion", "v1");
  write_member(w, "kind", "Event");
  w.Key("metadata");
  w.StartObject();
  write_member(w, "name", event_object_name(command, event.key));
  write_member(w, "namespace", command.ns);
  w.EndObject();
  w.Key("involvedObject");
  w.StartObject();
  write_member(w, "apiVersion", "jarvis.io/v1");
  write_member(w, "kind", "Command");
  write_member(w, "name", command.name);
  write_member(w, "namespace", command.ns);
  write_member(w, "uid", command.uid);
  write_member(w, "resourceVersion", command.resource_version);
  w.EndObject();
  write_member(w, "reason", event.reason);
  write_member(w, "message", event.message);
  write_member(w, "type", event.type);
  w.Key("source");
  w.StartObject();
  write_member(w, "component", kEventComponent);
  w.EndObject();
  write_member(w, "firstTimestamp", timestamp);
  write_member(w, "lastTimestamp", timestamp);
  w.Key("count");
  w.Int(1);
  write_member(w, "reportingComponent", kEventComponent);
  w.EndObject();
  return json_text(buf);
}

}  // namespace jarvis::controller
