// The seed's event contract: reasons, types, messages, and the Event body posted to the API server.
#include <catch2/catch.hpp>

#include <csignal>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "controller/event_message.hpp"

using namespace jarvis::controller;
using Ending = NodeOutcome::Ending;

namespace {

CommandMeta sample_command() {
  CommandMeta meta;
  meta.ns = "jarvis";
  meta.name = "command-sample";
  meta.uid = "354e97c9-eb7a-4ccb-9c59-2d87666017d5";
  meta.generation = 15;
  meta.resource_version = "140790";
  return meta;
}

NodeOutcome exited(int code, std::string output) {
  NodeOutcome o;
  o.ending = Ending::exited;
  o.exit_code = code;
  o.output = std::move(output);
  return o;
}

NodeOutcome ended(Ending ending, std::string detail, std::string output = "") {
  NodeOutcome o;
  o.ending = ending;
  o.detail = std::move(detail);
  o.output = std::move(output);
  return o;
}

// An independent check: RapidJSON's writer refuses invalid UTF-8 when asked to validate.
bool is_valid_utf8(const std::string& s) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer, rapidjson::UTF8<>, rapidjson::UTF8<>, rapidjson::CrtAllocator,
                    rapidjson::kWriteValidateEncodingFlag>
      writer(buf);
  return writer.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}

}  // namespace

TEST_CASE("a successful run reads like the seed's event", "[event_message]") {
  const std::string output =
      "    PID COMMAND         %CPU %MEM\n    211 kubelet          1.7  1.2\n    105 containerd       0.7  1.3\n\n\n";
  const auto event = make_node_event(sample_command(), "ps -eo pid,comm,%cpu,%mem --sort=-%cpu | head -n 10",
                                     "kind-worker", exited(0, output));
  CHECK(event.reason == "command-sample-kind-worker");
  CHECK(event.type == "Normal");
  CHECK(event.message ==
        "❯ ps -eo pid,comm,%cpu,%mem --sort=-%cpu | head -n 10\n"
        "    PID COMMAND         %CPU %MEM\n    211 kubelet          1.7  1.2\n    105 containerd       0.7  1.3");
}

TEST_CASE("every ending gets its type and last line", "[event_message]") {
  const auto meta = sample_command();
  struct Case {
    const char* name;
    NodeOutcome outcome;
    const char* type;
    const char* message;
  };
  NodeOutcome timed_out = ended(Ending::timed_out, "killed after timeout", "partial\n");
  timed_out.timeout_seconds = 30;
  NodeOutcome signaled = ended(Ending::signaled, "");
  signaled.signal = SIGKILL;
  const std::vector<Case> cases = {
      {"success without output", exited(0, ""), "Normal", "❯ cmd\n<no output>"},
      {"success with only newlines", exited(0, "\n\r\n"), "Normal", "❯ cmd\n<no output>"},
      {"non-zero exit", exited(3, "oops\n"), "Warning", "❯ cmd\noops\nexit code 3"},
      {"non-zero exit without output", exited(1, ""), "Warning", "❯ cmd\n<no output>\nexit code 1"},
      {"killed by a signal", signaled, "Warning", "❯ cmd\n<no output>\nkilled by signal 9 (SIGKILL)"},
      {"timed out", timed_out, "Warning", "❯ cmd\npartial\ntimed out after 30s"},
      {"canceled", ended(Ending::canceled, "Command deleted"), "Warning", "❯ cmd\n<no output>\ncanceled: Command deleted"},
      {"start failed", ended(Ending::start_failed, "fork: Resource temporarily unavailable"), "Warning",
       "❯ cmd\n<no output>\nfailed to start: fork: Resource temporarily unavailable"},
      {"agent unreachable", agent_error_outcome("agent 10.0.0.5:7443 unreachable: connection refused"), "Warning",
       "❯ cmd\n<no output>\nagent 10.0.0.5:7443 unreachable: connection refused"},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    const auto event = make_node_event(meta, "cmd", "n1", c.outcome);
    CHECK(event.reason == "command-sample-n1");
    CHECK(event.type == c.type);
    CHECK(event.message == c.message);
  }
}

TEST_CASE("outcomes from agent executions", "[event_message]") {
  jarvis::v1::Execution e;
  e.set_state(jarvis::v1::STATE_RUNNING);
  CHECK_FALSE(outcome_of(e, 30).has_value());
  e.set_state(jarvis::v1::STATE_UNSPECIFIED);
  CHECK_FALSE(outcome_of(e, 30).has_value());

  e.set_state(jarvis::v1::STATE_SUCCEEDED);
  e.set_exited(true);
  e.set_output("hi\n");
  auto o = outcome_of(e, 30);
  REQUIRE(o);
  CHECK(o->succeeded());
  CHECK(o->output == "hi\n");

  e.set_state(jarvis::v1::STATE_FAILED);
  e.set_exit_code(3);
  o = outcome_of(e, 30);
  REQUIRE(o);
  CHECK(o->ending == Ending::exited);
  CHECK(o->exit_code == 3);
  CHECK_FALSE(o->succeeded());

  e.set_exited(false);
  e.set_exit_code(0);
  e.set_signal(SIGSEGV);
  o = outcome_of(e, 30);
  REQUIRE(o);
  CHECK(o->ending == Ending::signaled);
  CHECK(make_node_event(sample_command(), "cmd", "n1", *o).message == "❯ cmd\nhi\nkilled by signal 11 (SIGSEGV)");

  e.set_signal(0);
  o = outcome_of(e, 30);
  REQUIRE(o);
  CHECK_FALSE(o->succeeded());  // FAILED with nothing to show is still a failure

  e.set_state(jarvis::v1::STATE_TIMED_OUT);
  e.set_signal(SIGKILL);
  o = outcome_of(e, 45);
  REQUIRE(o);
  CHECK(o->ending == Ending::timed_out);
  CHECK(make_node_event(sample_command(), "cmd", "n1", *o).message == "❯ cmd\nhi\ntimed out after 45s");

  e.set_state(jarvis::v1::STATE_CANCELED);
  e.set_reason("canceled by the controller");
  o = outcome_of(e, 45);
  REQUIRE(o);
  CHECK(o->ending == Ending::canceled);

  e.set_state(jarvis::v1::STATE_START_FAILED);
  e.set_reason("no /bin/sh");
  e.clear_output();
  o = outcome_of(e, 45);
  REQUIRE(o);
  CHECK(make_node_event(sample_command(), "cmd", "n1", *o).message == "❯ cmd\n<no output>\nfailed to start: no /bin/sh");
}

TEST_CASE("agent not found, no matching nodes, invalid spec", "[event_message]") {
  const auto not_found = make_agent_not_found_event(sample_command(), "kind-worker2");
  CHECK(not_found.reason == "command-sample-kind-worker2");
  CHECK(not_found.type == "Warning");
  CHECK(not_found.message == "Agent not found for node kind-worker2 (skipping)");

  const auto none = make_no_matching_nodes_event("hostname");
  CHECK(none.reason == "NoMatchingNodes");
  CHECK(none.type == "Warning");
  CHECK(none.message == "❯ hostname\nno node matches spec.selector");

  const auto invalid = make_invalid_spec_event("spec.command: required");
  CHECK(invalid.reason == "InvalidSpec");
  CHECK(invalid.type == "Warning");
  CHECK(invalid.message == "cannot run this Command: spec.command: required");
}

TEST_CASE("long reasons stay within 128 bytes and distinct", "[event_message]") {
  const std::string command(100, 'c');
  const std::string node_a = std::string(60, 'n') + "-a";
  const std::string node_b = std::string(60, 'n') + "-b";
  const auto a = event_reason(command, node_a);
  const auto b = event_reason(command, node_b);
  CHECK(a.size() == kMaxEventReasonBytes);
  CHECK(b.size() == kMaxEventReasonBytes);
  CHECK(a != b);
  CHECK(a.substr(0, 119) == (command + "-" + node_a).substr(0, 119));
  CHECK(a[119] == '-');
  CHECK(event_reason(command, node_a) == a);  // deterministic
  const std::string exactly(127 - 4, 'x');
  CHECK(event_reason(exactly, "node") == exactly + "-node");
}

TEST_CASE("binary and invalid UTF-8 output becomes valid UTF-8", "[event_message]") {
  const char raw[] = "\x00\x01\xff\xfe ok \xc3\x28 \xe2\x82\xac \xf0\x9f\x98";
  const std::string binary(raw, sizeof raw - 1);
  const auto event = make_node_event(sample_command(), "cat /bin/true\xff", "n1", exited(0, binary));
  CHECK(is_valid_utf8(event.message));
  CHECK(event.message.find("€") != std::string::npos);
  CHECK(event.message.find("\xEF\xBF\xBD") != std::string::npos);
  CHECK(event.message.rfind("❯ cat /bin/true\xEF\xBF\xBD\n", 0) == 0);

  const std::string body = event_json(sample_command(), event, std::chrono::system_clock::now());
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseValidateEncodingFlag>(body.c_str(), body.size());
  REQUIRE_FALSE(doc.HasParseError());
  CHECK(std::string(doc["message"].GetString(), doc["message"].GetStringLength()) == event.message);
}

TEST_CASE("long output keeps head and tail within the bound", "[event_message]") {
  std::string output;
  for (int i = 0; i < 5000; ++i) output += "line " + std::to_string(i) + " é\n";
  const auto event = make_node_event(sample_command(), "seq", "n1", exited(2, output));
  CHECK(event.message.size() <= kMaxEventMessageBytes);
  CHECK(event.message.size() > kMaxEventMessageBytes - 200);
  CHECK(event.message.rfind("❯ seq\nline 0 é\nline 1 é\n", 0) == 0);
  CHECK(event.message.find("line 4999 é\nexit code 2") != std::string::npos);
  CHECK(event.message.find(" bytes omitted]\n") != std::string::npos);
  CHECK(is_valid_utf8(event.message));

  // The omitted count is exact: kept head + kept tail + omitted = the output without its final newline.
  const std::string printed = output.substr(0, output.size() - 1);
  const std::size_t header = std::string("❯ seq\n").size();
  const std::size_t footer = std::string("\nexit code 2").size();
  const auto marker_at = event.message.find("[jarvis: ");
  const auto omitted = std::stoull(event.message.substr(marker_at + 9));
  const auto marker_end = event.message.find('\n', marker_at) + 1;
  std::string head = event.message.substr(header, marker_at - header);
  if (printed.compare(0, head.size(), head) != 0) head.pop_back();  // the newline added before the marker
  const std::string tail = event.message.substr(marker_end, event.message.size() - marker_end - footer);
  CHECK(printed.compare(0, head.size(), head) == 0);
  CHECK(printed.compare(printed.size() - tail.size(), tail.size(), tail) == 0);
  CHECK(head.size() + tail.size() + omitted == printed.size());

  // A huge command line is cut too, and the whole message still fits.
  const auto huge = make_node_event(sample_command(), std::string(60000, 'x'), "n1", exited(0, output));
  CHECK(huge.message.size() <= kMaxEventMessageBytes);
  CHECK(huge.message.find("…\n") != std::string::npos);

  // Invalid UTF-8 everywhere: replacement characters triple the size, the bound still holds.
  const auto garbage = make_node_event(sample_command(), "x", "n1", exited(1, std::string(40000, '\xff')));
  CHECK(garbage.message.size() <= kMaxEventMessageBytes);
  CHECK(is_valid_utf8(garbage.message));
}

TEST_CASE("the Event body matches core/v1 without eventTime", "[event_message]") {
  const auto meta = sample_command();
  const auto event = make_node_event(meta, "hostname", "kind-worker", exited(0, "kind-worker\n"));
  const auto now = std::chrono::system_clock::time_point(std::chrono::seconds(1761529000));
  const std::string body = event_json(meta, event, now);
  rapidjson::Document doc;
  doc.Parse(body.c_str(), body.size());
  REQUIRE_FALSE(doc.HasParseError());
  CHECK(std::string(doc["apiVersion"].GetString()) == "v1");
  CHECK(std::string(doc["kind"].GetString()) == "Event");
  const std::string name = doc["metadata"]["name"].GetString();
  CHECK(name.rfind("command-sample.", 0) == 0);
  CHECK(name.size() == std::string("command-sample.").size() + 16);
  CHECK(std::string(doc["metadata"]["namespace"].GetString()) == "jarvis");
  const auto& involved = doc["involvedObject"];
  CHECK(std::string(involved["apiVersion"].GetString()) == "jarvis.io/v1");
  CHECK(std::string(involved["kind"].GetString()) == "Command");
  CHECK(std::string(involved["name"].GetString()) == "command-sample");
  CHECK(std::string(involved["namespace"].GetString()) == "jarvis");
  CHECK(std::string(involved["uid"].GetString()) == meta.uid);
  CHECK(std::string(involved["resourceVersion"].GetString()) == "140790");
  CHECK(std::string(doc["reason"].GetString()) == "command-sample-kind-worker");
  CHECK(std::string(doc["message"].GetString()) == "❯ hostname\nkind-worker");
  CHECK(std::string(doc["type"].GetString()) == "Normal");
  CHECK(std::string(doc["source"]["component"].GetString()) == "command-controller");
  CHECK(std::string(doc["reportingComponent"].GetString()) == "command-controller");
  CHECK(std::string(doc["firstTimestamp"].GetString()) == "2025-10-27T01:36:40Z");
  CHECK(std::string(doc["lastTimestamp"].GetString()) == "2025-10-27T01:36:40Z");
  CHECK(doc["count"].GetInt() == 1);
  CHECK_FALSE(doc.HasMember("eventTime"));

  // The same event posted again (another controller, a later instant): the same name, so the API server keeps
  // one. Another node's event of the same instant, or the same node in the next generation: another name.
  const auto name_of = [](const std::string& body) {
    rapidjson::Document d;
    d.Parse(body.c_str(), body.size());
    return std::string(d["metadata"]["name"].GetString());
  };
  CHECK(name_of(event_json(meta, event, now + std::chrono::hours(1))) == name);
  const auto other_node = make_node_event(meta, "hostname", "kind-worker2", exited(0, "kind-worker2\n"));
  CHECK(name_of(event_json(meta, other_node, now)) != name);
  auto next_generation = meta;
  ++next_generation.generation;
  CHECK(name_of(event_json(next_generation, event, now)) != name);
  auto other_uid = meta;
  other_uid.uid = "another-uid";
  CHECK(name_of(event_json(other_uid, event, now)) != name);
  CHECK(name_of(event_json(meta, make_summary_event("hostname", CommandStatus{}), now)) != name);
}

TEST_CASE("event names follow client-go and stay valid names", "[event_message]") {
  CHECK(event_name("c", 0x1872cd8a3f1c4f44ull) == "c.1872cd8a3f1c4f44");
  CHECK(event_name("c", 1) == "c.0000000000000001");
  const auto long_name = event_name(std::string(253, 'a'), 2);
  CHECK(long_name.size() == 253);
  CHECK(long_name.substr(236) == ".0000000000000002");
}
