#include <catch2/catch.hpp>

#include "cli/command_view.hpp"
#include "cli/progress.hpp"
#include "cli/result_format.hpp"
#include "common/json.hpp"

using namespace jarvis;
using namespace jarvis::cli;

namespace {

NodeResult node(std::string name, std::string phase, std::optional<int> exit_code, std::string output,
                std::string reason = "Exited") {
  NodeResult n;
  n.name = std::move(name);
  n.phase = std::move(phase);
  n.exit_code = exit_code;
  n.output = std::move(output);
  n.reason = std::move(reason);
  return n;
}

CommandView view_of(std::vector<NodeResult> nodes) {
  CommandView v;
  v.ns = "jarvis";
  v.name = "run-abcde";
  v.generation = v.observed_generation = 1;
  v.nodes = std::move(nodes);
  v.targeted = static_cast<int>(v.nodes.size());
  for (const auto& n : v.nodes) {
    v.succeeded += n.phase == "Succeeded";
    v.failed += n.phase == "Failed";
    v.skipped += n.phase == "Skipped";
  }
  v.phase = v.failed || v.skipped ? "Failed" : "Succeeded";
  return v;
}

}  // namespace

TEST_CASE("identical outputs fold into one group, largest first, like clubak -b") {
  auto view = view_of({node("a", "Succeeded", 0, "same\n"), node("b", "Failed", 3, "boom\n"),
                       node("c", "Succeeded", 0, "same\n"), node("d", "Succeeded", 0, "same\n")});
  CHECK(format_folded(view) ==
        "---------------\n"
        "a,c,d (3)\n"
        "---------------\n"
        "same\n"
        "---------------\n"
        "b (1) Failed, exit code 3\n"
        "---------------\n"
        "boom\n");
  CHECK(format_summary(view) == "jarvis/run-abcde: Failed: 1 failed (b), 3 succeeded of 4 node(s)");
}

TEST_CASE("the same output with different outcomes stays apart; reasons show when not a plain exit") {
  auto groups = fold_nodes({node("a", "Failed", std::nullopt, "", "TimedOut"), node("b", "Failed", 1, ""),
                            node("c", "Failed", std::nullopt, "", "TimedOut"), node("d", "Skipped", std::nullopt, "", "")});
  REQUIRE(groups.size() == 3);
  CHECK(groups[0].nodes == "a,c");
  CHECK(describe_outcome(groups[0].phase, groups[0].exit_code) == "Failed, TimedOut");
  CHECK(groups[1].nodes == "b");
  CHECK(describe_outcome(groups[1].phase, groups[1].exit_code) == "Failed, exit code 1");
  CHECK(describe_outcome(groups[2].phase, groups[2].exit_code) == "Skipped");
}

TEST_CASE("status.groups from the controller are shown as they are") {
  auto doc = parse_json(R"({"metadata":{"name":"x","namespace":"ns","generation":1},
    "status":{"observedGeneration":1,"phase":"Failed","targeted":7,"succeeded":5,"failed":2,
      "groups":[{"nodes":"kind-worker[2-6]","count":5,"phase":"Succeeded","exitCode":0,"output":"ok\n"},
                {"nodes":"kind-worker7","count":1,"phase":"Failed","exitCode":2,"output":"bad"},
                {"nodes":"kind-worker8","count":1,"phase":"Failed","exitCode":4,"output":"","others":true}]}})",
                        "test");
  REQUIRE(doc);
  CommandView view = read_command_view(*doc);
  CHECK(view.finished());
  CHECK(view.failed == 2);
  CHECK(format_folded(view) ==
        "---------------\nkind-worker[2-6] (5)\n---------------\nok\n"
        "---------------\nkind-worker7 (1) Failed, exit code 2\n---------------\nbad\n"
        "---------------\nkind-worker8 (1) Failed, exit code 4 [more groups not kept in the status]\n---------------\n");
}

TEST_CASE("lines mode prefixes every output line with its node; silent failures get a status line") {
  auto view = view_of({node("a", "Succeeded", 0, "one\ntwo\n"), node("b", "Failed", 3, "")});
  CHECK(format_lines(view) == "a: one\na: two\nb: [Failed, exit code 3]\n");
}

TEST_CASE("a status without counts is counted from its nodes; finished needs the current generation") {
  auto doc = parse_json(R"({"metadata":{"name":"x","namespace":"ns","generation":2},
    "status":{"observedGeneration":1,"phase":"Succeeded",
      "nodes":[{"name":"a","phase":"Succeeded","exitCode":0},{"name":"b","phase":"Running"}]}})", "test");
  REQUIRE(doc);
  CommandView view = read_command_view(*doc);
  CHECK(view.targeted == 2);
  CHECK(view.succeeded == 1);
  CHECK(view.running == 1);
  CHECK_FALSE(view.finished());
  CHECK(progress_line(view) == "x: 1/2 nodes done, 0 failed, 1 running");
}

TEST_CASE("a success summary counts the nodes") {
  auto view = view_of({node("a", "Succeeded", 0, "x"), node("b", "Succeeded", 0, "x")});
  CHECK(view.all_succeeded());
  CHECK(format_summary(view) == "jarvis/run-abcde: Succeeded on 2 of 2 node(s)");
}

TEST_CASE("folded node sets use the compact range form") {
  std::vector<NodeResult> nodes;
  for (int i : {2, 3, 4, 5, 7}) nodes.push_back(node("kind-worker" + std::to_string(i), "Succeeded", 0, "ok\n"));
  nodes.push_back(node("kind-worker6", "Failed", 1, "no\n"));
  auto groups = fold_nodes(nodes);
  REQUIRE(groups.size() == 2);
  CHECK(groups[0].nodes == "kind-worker[2-5,7]");
  CHECK(groups[0].count == 5);
  CHECK(groups[1].nodes == "kind-worker6");
}
