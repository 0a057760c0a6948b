#include <catch2/catch.hpp>

#include <rapidjson/document.h>

#include "controller/command_status.hpp"
#include "controller/execution_id.hpp"

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
