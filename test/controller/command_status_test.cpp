#include <catch2/catch.hpp>

#include <algorithm>

#include <rapidjson/document.h>

#include "controller/command_status.hpp"
#include "controller/command_writer.hpp"
#include "controller/execution_id.hpp"
#include "controller/result_groups.hpp"

using namespace jarvis::controller;

namespace {

rapidjson::Document with_status(const std::string& status_json_text) {
  rapidjson::Document d;
  d.Parse(("{\"metadata\":{\"name\":\"x\"},\"status\":" + status_json_text + "}").c_str());
  REQUIRE_FALSE(d.HasParseError());
  return d;
}

NodeStatus node(std::string name, Phase phase) {
  NodeStatus n;
  n.name = std::move(name);
  n.phase = phase;
  return n;
}

}  // namespace

TEST_CASE("a status survives a round trip through JSON", "[status]") {
  CommandStatus s;
  s.phase = Phase::running;
  s.observed_generation = 7;
  s.start_time = "2026-11-26T12:00:00Z";
  s.message = "running on 1 of 2 node(s)";
  s.output_bytes_per_node = 4096;
  auto a = node("a", Phase::succeeded);
  a.reason = "Exited";
  a.exit_code = 0;
  a.output = "hello ❯";
  a.output_bytes = 8;
  a.start_time = "2026-11-26T12:00:01Z";
  a.end_time = "2026-11-26T12:00:02Z";
  auto b = node("b", Phase::running);
  b.reason = "Dispatched";
  b.execution_id = "uid.g7.b";
  s.nodes = {a, b};
  recount(s);
  const auto parsed = parse_status(with_status(status_json(s)));
  CHECK(parsed == s);
  CHECK(parsed.targeted == 2);
  CHECK(parsed.running == 1);
}

TEST_CASE("missing or foreign status reads as empty", "[status]") {
  rapidjson::Document d;
  d.Parse(R"({"metadata":{"name":"x"}})");
  CHECK(parse_status(d) == CommandStatus{});
  CHECK(parse_status(with_status("\"weird\"")) == CommandStatus{});
  const auto s = parse_status(with_status(R"({"phase":"Bogus","nodes":[{"phase":"Running"},7,{"name":"n"}]})"));
  CHECK_FALSE(s.phase.has_value());
  REQUIRE(s.nodes.size() == 1);
  CHECK(s.nodes[0].name == "n");
}

TEST_CASE("recount decides the Command's phase from its nodes", "[status]") {
  CommandStatus s;
  s.nodes = {node("a", Phase::succeeded), node("b", Phase::running)};
  recount(s);
  CHECK(s.phase == Phase::running);
  s.nodes[1].phase = Phase::succeeded;
  recount(s);
  CHECK(s.phase == Phase::succeeded);
  CHECK(s.succeeded == 2);
  s.nodes[0].phase = Phase::failed;
  recount(s);
  CHECK(s.phase == Phase::failed);
  CHECK(s.failed == 1);
  s.nodes.clear();
  recount(s);
  CHECK(s.phase == Phase::failed);  // nothing matched: nothing succeeded
}

TEST_CASE("status of 5,000 nodes with large outputs stays far below the object-size limit", "[status]") {
  CommandStatus s;
  s.phase = Phase::failed;
  s.observed_generation = 3;
  s.output_bytes_per_node = output_budget_per_node(5000);
  CHECK(s.output_bytes_per_node == 0);
  for (int i = 0; i < 5000; ++i) {
    auto n = node("worker-node-with-a-long-name-" + std::to_string(i), i % 10 ? Phase::succeeded : Phase::failed);
    n.exit_code = i % 10 ? 0 : 1;
    n.reason = "Exited";
    n.execution_id = "0b6c1f4e-7d1a-4d2c-9a55-0d8c3a1e2f3b.g3." + n.name;
    n.start_time = n.end_time = "2026-11-26T12:00:00Z";
    n.output = std::string(s.output_bytes_per_node, 'x');
    n.output_bytes = 1 << 30;
    n.truncated = true;
    s.nodes.push_back(n);
  }
  recount(s);
  const auto size = status_json(s).size();
  INFO("status bytes: " << size);
  CHECK(size < 600 * 1024);  // the API server refuses objects above about 1.5 MiB
}

TEST_CASE("the output budget shrinks with the fleet", "[status]") {
  CHECK(output_budget_per_node(1) == 4096);
  CHECK(output_budget_per_node(64) == 4096);
  CHECK(output_budget_per_node(128) == 2048);
  CHECK(output_budget_per_node(1000) == 262);
  CHECK(output_budget_per_node(1100) == 0);
  for (std::size_t n : {1u, 10u, 100u, 500u, 1000u, 5000u}) CHECK(output_budget_per_node(n) * n <= 256 * 1024);
}

TEST_CASE("execution ids are deterministic, distinct per node and generation, and bounded", "[execution_id]") {
  const std::string uid = "0b6c1f4e-7d1a-4d2c-9a55-0d8c3a1e2f3b";
  CHECK(execution_id(uid, 2, "kind-worker") == uid + ".g2.kind-worker");
  CHECK(execution_id(uid, 2, "kind-worker") == execution_id(uid, 2, "kind-worker"));
  CHECK(execution_id(uid, 3, "kind-worker") != execution_id(uid, 2, "kind-worker"));
  const std::string long_a(240, 'a'), long_b = std::string(239, 'a') + "b";
  const auto a = execution_id(uid, 1, long_a), b = execution_id(uid, 1, long_b);
  CHECK(a.size() <= 253);
  CHECK(b.size() <= 253);
  CHECK(a != b);
}

namespace {

// A status of `nodes` finished nodes, as the plan records them at 5,000 nodes (no output kept per node), with
// `distinct` different outputs of `output_bytes` each, every tenth node failed; groups folded.
CommandStatus fleet_status(int nodes, int distinct, std::size_t output_bytes) {
  CommandStatus s;
  s.observed_generation = 3;
  s.output_bytes_per_node = output_budget_per_node(nodes);
  FreshOutputs fresh;
  for (int i = 0; i < nodes; ++i) {
    auto n = node("worker-node-with-a-long-name-" + std::to_string(i), i % 10 ? Phase::succeeded : Phase::failed);
    n.exit_code = i % 10 ? 0 : 1;
    n.reason = "Exited";
    n.execution_id = "0b6c1f4e-7d1a-4d2c-9a55-0d8c3a1e2f3b.g3." + n.name;
    n.start_time = n.end_time = "2026-11-26T12:00:00Z";
    std::string output = "output #" + std::to_string(i % distinct) + "\n";
    output += std::string(output_bytes - output.size(), 'x');
    n.output_hash = output_hash(output);
    fresh.emplace(n.output_hash, output);
    n.output = output.substr(0, s.output_bytes_per_node);
    n.output_bytes = output.size();
    n.truncated = n.output.size() < output.size();
    s.nodes.push_back(n);
  }
  std::sort(s.nodes.begin(), s.nodes.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  recount(s);
  set_condition(s, condition::failed, "NodesFailed", "failed on 500 of 5000 node(s)", "2026-11-26T12:00:00Z");
  s.groups = fold_results(s.nodes, {}, fresh);
  return s;
}

}  // namespace

TEST_CASE("status of 5,000 nodes with 20 distinct large outputs: 20 groups, far below the size limit", "[status][groups]") {
  const CommandStatus s = fleet_status(5000, 20, 64 * 1024);
  // Outputs i % 20 on nodes where i % 10 decides the phase: 20 (phase, output) pairs, 250 nodes each.
  REQUIRE(s.groups.size() == 20);
  for (const auto& g : s.groups) {
    CHECK(g.count == 250);
    CHECK_FALSE(g.others);
    CHECK(g.output.size() == kGroupOutputBytes);
  }
  const auto size = status_json(s).size();
  INFO("status bytes: " << size);
  CHECK(size < 800 * 1024);  // about half of the API server's 1.5 MiB (measured: 745 KiB)
  const auto parsed = parse_status(with_status(status_json(s)));
  CHECK(parsed.groups == s.groups);
}

TEST_CASE("status of 5,000 nodes with 5,000 distinct outputs: 20 groups and one others entry", "[status][groups]") {
  const CommandStatus s = fleet_status(5000, 5000, 64 * 1024);
  REQUIRE(s.groups.size() == 21);
  CHECK(s.groups.back().others);
  CHECK(s.groups.back().count == 4980);
  CHECK(s.groups.back().output.empty());
  CHECK(s.groups.back().nodes.size() <= kGroupNodesBytes + 32);
  const auto size = status_json(s).size();
  INFO("status bytes: " << size);
  CHECK(size < 800 * 1024);  // measured: 722 KiB
}

TEST_CASE("folding: 8 identical results and 2 different ones make 3 groups, largest first", "[groups]") {
  std::vector<NodeStatus> nodes;
  FreshOutputs fresh;
  for (int i = 1; i <= 10; ++i) {
    auto n = node(i == 1 ? "kind-control-plane" : "kind-worker" + std::string(i == 2 ? "" : std::to_string(i - 1)),
                  Phase::succeeded);
    n.reason = "Exited";
    n.exit_code = 0;
    std::string output = i == 1 ? "control\n" : i == 5 ? "odd one\n" : "same\n";
    n.output_hash = output_hash(output);
    fresh.emplace(n.output_hash, output);
    nodes.push_back(n);
  }
  std::sort(nodes.begin(), nodes.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  const auto groups = fold_results(nodes, {}, fresh);
  REQUIRE(groups.size() == 3);
  CHECK(groups[0].nodes == "kind-worker,kind-worker[2-3,5-9]");
  CHECK(groups[0].count == 8);
  CHECK(groups[0].output == "same\n");
  CHECK(groups[1].nodes == "kind-control-plane");  // ties: natural order of the first node
  CHECK(groups[2].nodes == "kind-worker4");
  CHECK(groups[2].output == "odd one\n");
  SECTION("the output of a group comes back from the previous groups when no node keeps it") {
    auto later = nodes;
    for (auto& n : later) n.output.clear();
    const auto again = fold_results(later, groups, {});
    CHECK(again == groups);
  }
  SECTION("a bound of 1 group: the rest is one others entry with no output") {
    const auto bounded = fold_results(nodes, {}, fresh, 1);
    REQUIRE(bounded.size() == 2);
    CHECK(bounded[1].others);
    CHECK(bounded[1].count == 2);
    CHECK(bounded[1].nodes == "kind-control-plane,kind-worker4");
  }
  SECTION("as text: header, then the output indented") {
    const std::string text = groups_text(groups, 16 * 1024);
    CHECK(text.rfind("kind-worker,kind-worker[2-3,5-9] (8): Succeeded, exit code 0\n  same\n", 0) == 0);
    CHECK(groups_text(groups, 150).find("more group(s) omitted") != std::string::npos);
  }
}

TEST_CASE("the status PUT body keeps the object and replaces its status with exactly the one decided",
          "[status]") {
  rapidjson::Document object;
  object.Parse(R"({"apiVersion":"jarvis.io/v1","kind":"Command","metadata":{"name":"x","resourceVersion":"7"},)"
               R"("spec":{"command":"uptime"},"status":{"phase":"Running","nodes":[{"name":"old"}]}})");
  REQUIRE_FALSE(object.HasParseError());
  CommandStatus s;
  s.phase = Phase::failed;
  s.observed_generation = 3;
  NodeStatus n = node("kind-worker", Phase::failed);
  n.output = std::string("line\x01\"quoted\"\n\xff\xfe tail", 22);  // a control byte, quotes, invalid UTF-8
  n.message = "exit code 3";
  s.nodes.push_back(n);
  recount(s);

  const std::string body = status_update_body(object, s);
  rapidjson::Document written;
  written.Parse(body.c_str());
  REQUIRE_FALSE(written.HasParseError());
  CHECK(std::string(written["metadata"]["resourceVersion"].GetString()) == "7");
  CHECK(std::string(written["spec"]["command"].GetString()) == "uptime");
  const CommandStatus read = parse_status(written);
  REQUIRE(read.nodes.size() == 1);
  CHECK(read.nodes[0].name == "kind-worker");
  CHECK(read.phase == Phase::failed);
  CHECK(read.observed_generation == 3);
  CHECK(read.nodes[0].output.starts_with("line\x01\"quoted\"\n"));
  // Exactly one status member: the old one is gone, not shadowed.
  CHECK(body.find("\"status\"") == body.rfind("\"status\""));
}
