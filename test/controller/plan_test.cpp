// plan() alone (no I/O): the rollout window, percentages, the failure budget rule and resuming a window from a
// persisted status, by feeding each plan's status back in as the next object (what the reconciler writes and
// the watch returns).
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "common/json.hpp"
#include "common/time_format.hpp"
#include "controller/plan.hpp"
#include "controller/rollout.hpp"

using namespace jarvis;
using namespace jarvis::controller;

namespace {

const std::string kUid = "u1";
using Clock = std::chrono::system_clock;

std::string id_of(const std::string& node) { return kUid + ".g1." + node; }

// One controller process's knowledge: which executions its trackers follow and what they delivered.
struct Executions final : ExecutionView {
  std::set<std::string> tracked;
  std::map<std::string, TrackerResult> results;
  bool tracking(const std::string& id) const override { return tracked.contains(id) && !results.contains(id); }
  const TrackerResult* delivered(const std::string&, const std::string& id) const override {
    auto it = results.find(id);
    return it == results.end() ? nullptr : &it->second;
  }
  bool recorded(const std::string&) const override { return false; }

  void finish(const std::string& node, int exit_code, const std::string& output) {
    jarvis::v1::Execution e;
    e.set_execution_id(id_of(node));
    e.set_exited(true);
    e.set_exit_code(exit_code);
    e.set_output(output);
    e.set_end_time_unix_ms(1);
    NodeOutcome o;
    o.exit_code = exit_code;
    o.output = output;
    results[id_of(node)] = TrackerResult{o, e, std::string(reason::exited)};
  }
};

ClusterView cluster_of(int nodes, const std::string& prefix = "n") {
  ClusterView v;
  for (int i = 1; i <= nodes; ++i) {
    const std::string name = prefix + std::to_string(i);
    v.nodes.push_back(NodeInfo{name, {}});
    v.agents[name] = "10.0.0." + std::to_string(i) + ":50051";
  }
  return v;
}

struct Run {
  std::string spec_extra;
  ClusterView cluster;
  Executions executions;
  std::string status_text;  // the last status written, as JSON
  rapidjson::Document object;
  std::vector<Plan> plans;

  Run(std::string extra, ClusterView c) : spec_extra(std::move(extra)), cluster(std::move(c)) {}

  // Plans once on the Command with the last written status; "writes" the plan's status; the plan's Starts
  // become tracked.
  const Plan& step(Clock::time_point now = Clock::now()) {
    std::string text = R"({"metadata":{"name":"cmd","namespace":"ns","uid":")" + kUid +
                       R"(","generation":1,"resourceVersion":"7","finalizers":["jarvis.io/finalizer"]},)"
                       R"("spec":{"command":"echo hi")" + spec_extra + "}";
    if (!status_text.empty()) text += R"(,"status":)" + status_text;
    text += "}";
    object.Parse(text.c_str());
    REQUIRE_FALSE(object.HasParseError());
    plans.push_back(plan(PlanInput{"ns/cmd", &object, &cluster, &executions, now}));
    const Plan& p = plans.back();
    if (p.status) status_text = status_json(*p.status);
    for (const auto& e : p.executions) executions.tracked.insert(e.execution_id);
    return p;
  }
  CommandStatus status() const {
    rapidjson::Document d;
    d.Parse((R"({"status":)" + status_text + "}").c_str());
    return parse_status(d);
  }
};

std::vector<std::string> started(const Plan& p) {
  std::vector<std::string> nodes;
  for (const auto& e : p.executions) nodes.push_back(e.node + (e.resume ? " (resume)" : ""));
  return nodes;
}

std::vector<std::string> event_reasons(const Plan& p) {
  std::vector<std::string> r;
  for (const auto& e : p.events) r.push_back(e.reason);
  return r;
}

}  // namespace

TEST_CASE("window and budget arithmetic: percentages, rounding, at least one", "[rollout]") {
  const auto count = [](std::int64_t v) { return std::optional<CountOrPercent>(CountOrPercent{v, false}); };
  const auto percent = [](std::int64_t v) { return std::optional<CountOrPercent>(CountOrPercent{v, true}); };
  CHECK(window_size(std::nullopt, 10) == 10);
  CHECK(window_size(count(2), 10) == 2);
  CHECK(window_size(count(50), 10) == 10);
  CHECK(window_size(percent(25), 10) == 3);  // 2.5 rounded up
  CHECK(window_size(percent(1), 10) == 1);
  CHECK(window_size(percent(0), 10) == 1);  // at least one
  CHECK(window_size(percent(100), 10) == 10);
  CHECK(window_size(percent(50), 0) == 1);
  CHECK_FALSE(failure_budget(std::nullopt, 10).has_value());
  CHECK(failure_budget(count(0), 10) == 0);
  CHECK(failure_budget(percent(10), 10) == 1);
  CHECK(failure_budget(percent(10), 19) == 1);  // 1.9 rounded down
  CHECK(failure_budget(percent(5), 10) == 0);
  // The budget is exceeded only when failures are MORE than it.
  CHECK_FALSE(budget_exceeded(std::nullopt, 1000));
  CHECK_FALSE(budget_exceeded(0, 0));
  CHECK(budget_exceeded(0, 1));
  CHECK_FALSE(budget_exceeded(2, 2));
  CHECK(budget_exceeded(2, 3));
}

TEST_CASE("maxConcurrency 2 on 6 nodes: a sliding window in name order", "[plan]") {
  Run run(R"(,"maxConcurrency":2)", cluster_of(6));
  const Plan& first = run.step();
  CHECK(first.action == Plan::Action::update);
  CHECK(started(first) == std::vector<std::string>{"n1", "n2"});
  auto s = run.status();
  CHECK((s.targeted == 6 && s.running == 2 && s.pending == 4 && s.succeeded == 0));
  CHECK(s.find("n3")->phase == Phase::pending);
  CHECK(s.find("n3")->reason == reason::queued);
  CHECK(s.find("n3")->execution_id.empty());

  // Nothing finished: nothing more starts.
  CHECK(run.step().action == Plan::Action::nothing);
  run.executions.finish("n1", 0, "ok\n");
  CHECK(started(run.step()) == std::vector<std::string>{"n3"});
  run.executions.finish("n2", 0, "ok\n");
  run.executions.finish("n3", 0, "ok\n");
  CHECK(started(run.step()) == std::vector<std::string>{"n4", "n5"});
  s = run.status();
  CHECK((s.running == 2 && s.pending == 1 && s.succeeded == 3));
  run.executions.finish("n4", 0, "ok\n");
  run.executions.finish("n5", 0, "ok\n");
  CHECK(started(run.step()) == std::vector<std::string>{"n6"});
  run.executions.finish("n6", 0, "ok\n");
  const Plan& last = run.step();
  s = run.status();
  CHECK(s.phase == Phase::succeeded);
  CHECK(s.succeeded == 6);
  REQUIRE(s.condition(condition::complete));
  CHECK(s.condition(condition::complete)->status == "True");
  CHECK_FALSE(s.condition(condition::failed));
  CHECK(event_reasons(last) == std::vector<std::string>{"cmd-n6", "Completed"});
  REQUIRE(s.groups.size() == 1);
  CHECK(s.groups[0].nodes == "n[1-6]");
  CHECK(s.groups[0].count == 6);
  CHECK(s.groups[0].output == "ok\n");
}

TEST_CASE("the window goes in natural name order: n2 before n10", "[plan]") {
  Run run(R"(,"maxConcurrency":"25%")", cluster_of(12));
  CHECK(started(run.step()) == std::vector<std::string>{"n1", "n2", "n3"});  // 25% of 12
}

TEST_CASE("maxConcurrency 1 and maxFailures 0: the first failure stops the rollout", "[plan]") {
  Run run(R"(,"maxConcurrency":1,"maxFailures":0)", cluster_of(6));
  run.step();
  run.executions.finish("n1", 0, "fine");
  CHECK(started(run.step()) == std::vector<std::string>{"n2"});
  run.executions.finish("n2", 7, "broken");
  const Plan& stop = run.step();
  CHECK(stop.executions.empty());
  const auto s = run.status();
  CHECK(s.phase == Phase::failed);
  CHECK((s.succeeded == 1 && s.failed == 1 && s.skipped == 4 && s.pending == 0 && s.running == 0));
  for (const char* n : {"n3", "n4", "n5", "n6"}) {
    CHECK(s.find(n)->phase == Phase::skipped);
    CHECK(s.find(n)->reason == reason::failure_budget_exceeded);
  }
  REQUIRE(s.condition(condition::failure_budget_exceeded));
  CHECK(s.condition(condition::failed)->reason == "FailureBudgetExceeded");
  CHECK_FALSE(s.completion_time.empty());
  REQUIRE(stop.events.size() == 2);
  CHECK(stop.events[0].reason == "cmd-n2");
  CHECK(stop.events[1].reason == "FailureBudgetExceeded");
  CHECK(stop.events[1].type == "Warning");
  CHECK(stop.events[1].message.find("n2 (1): Failed, exit code 7\n  broken") != std::string::npos);
  CHECK(stop.events[1].message.find("n[3-6] (4): Skipped (FailureBudgetExceeded)") != std::string::npos);
}

TEST_CASE("maxFailures is exceeded, not reached: 10% of 10 tolerates one failure and stops on the second", "[plan]") {
  Run run(R"(,"maxConcurrency":1,"maxFailures":"10%")", cluster_of(10));
  run.step();
  run.executions.finish("n1", 1, "bad");
  CHECK(started(run.step()) == std::vector<std::string>{"n2"});  // 1 failure = the budget: go on
  run.executions.finish("n2", 1, "bad");
  CHECK(run.step().executions.empty());  // 2 > 1: stop
  const auto s = run.status();
  CHECK((s.failed == 2 && s.skipped == 8));
}

TEST_CASE("nodes already running when the budget is exceeded finish and are recorded", "[plan]") {
  Run run(R"(,"maxConcurrency":3,"maxFailures":0)", cluster_of(5));
  run.step();
  run.executions.finish("n1", 2, "");
  run.step();
  auto s = run.status();
  CHECK((s.running == 2 && s.skipped == 2 && s.phase == Phase::running));
  CHECK(s.condition(condition::failure_budget_exceeded));
  CHECK_FALSE(s.condition(condition::failed));  // not over yet
  run.executions.finish("n2", 0, "");
  run.executions.finish("n3", 0, "");
  const Plan& last = run.step();
  s = run.status();
  CHECK((s.succeeded == 2 && s.failed == 1 && s.skipped == 2 && s.phase == Phase::failed));
  CHECK(event_reasons(last).back() == "FailureBudgetExceeded");
}

TEST_CASE("a node without an agent fails at its turn, takes no slot, and counts against the budget", "[plan]") {
  auto cluster = cluster_of(4);
  cluster.agents.erase("n2");
  Run run(R"(,"maxConcurrency":1,"maxFailures":1)", cluster);
  const Plan& p = run.step();
  CHECK(started(p) == std::vector<std::string>{"n1"});
  run.executions.finish("n1", 0, "");
  const Plan& q = run.step();
  CHECK(started(q) == std::vector<std::string>{"n3"});  // n2 failed at its turn (AgentNotFound), n3 took the slot
  const auto s = run.status();
  CHECK(s.find("n2")->reason == reason::agent_not_found);
  CHECK(s.failed == 1);
}

TEST_CASE("a restarted controller continues the window from the persisted status, never starting a node twice", "[plan]") {
  Run run(R"(,"maxConcurrency":2)", cluster_of(5));
  run.step();
  run.executions.finish("n1", 0, "ok");
  run.step();  // n1 recorded, n3 dispatched in the same write
  // The controller dies: a new process knows nothing but the status.
  run.executions = Executions{};
  const Plan& resumed = run.step();
  CHECK(started(resumed) == std::vector<std::string>{"n2 (resume)", "n3 (resume)"});
  CHECK_FALSE(resumed.status.has_value());  // nothing new to record: no write
  // Results of the resumed ones move the window on with fresh Starts.
  run.executions.finish("n2", 0, "ok");
  const Plan& next = run.step();
  CHECK(started(next) == std::vector<std::string>{"n4"});
  SECTION("the slot a dead controller left free (result written, dispatch not) is filled after the restart") {
    auto persisted = run.status();
    // As if n4's dispatch had never been written: its entry back to Pending.
    persisted.find("n4")->phase = Phase::pending;
    persisted.find("n4")->reason = std::string(reason::queued);
    persisted.find("n4")->execution_id.clear();
    recount(persisted);
    run.status_text = status_json(persisted);
    run.executions = Executions{};
    const Plan& filled = run.step();
    CHECK(started(filled) == std::vector<std::string>{"n3 (resume)", "n4"});
    CHECK(filled.status->find("n4")->reason == reason::dispatched);
  }
}

TEST_CASE("ttl_check: due after completionTime + ttl by this clock, deferred for a future completionTime", "[plan]") {
  const auto now = Clock::now();
  const auto object = [](const std::string& spec_extra, const std::string& completion) {
    rapidjson::Document d;
    d.Parse((R"({"metadata":{"name":"c","namespace":"n","uid":"u","generation":2},"spec":{"command":"x")" +
             spec_extra + R"(},"status":{"phase":"Failed","observedGeneration":2,"completionTime":")" + completion +
             "\"}}").c_str());
    return d;
  };
  CHECK(ttl_check(object(R"(,"ttlSecondsAfterFinished":3)", rfc3339(now - std::chrono::seconds(4))), now).due);
  CHECK(ttl_check(object(R"(,"ttlSecondsAfterFinished":0)", rfc3339(now)), now).due);
  const auto later = ttl_check(object(R"(,"ttlSecondsAfterFinished":30)", rfc3339(now - std::chrono::seconds(10))), now);
  CHECK_FALSE(later.due);
  REQUIRE(later.wait);
  CHECK(*later.wait > std::chrono::seconds(19));
  CHECK(*later.wait <= std::chrono::seconds(21));
  const auto skewed = ttl_check(object(R"(,"ttlSecondsAfterFinished":3)", rfc3339(now + std::chrono::hours(1))), now);
  CHECK_FALSE(skewed.due);
  CHECK(*skewed.wait > std::chrono::minutes(59));
  const auto none = ttl_check(object("", rfc3339(now - std::chrono::hours(1))), now);
  CHECK_FALSE(none.due);
  CHECK_FALSE(none.wait);
}

TEST_CASE("above 5,000 targeted nodes only nodes that did not succeed get a per-node event", "[plan][events]") {
  static_assert(kNodeEventsForEveryNodeUpTo == 5000);
  const int nodes = GENERATE(5000, 5001);
  Run run("", cluster_of(nodes));
  CHECK(run.step().executions.size() == static_cast<std::size_t>(nodes));
  for (int i = 1; i <= nodes; ++i) run.executions.finish("n" + std::to_string(i), i == 7 ? 1 : 0, "");
  const Plan& last = run.step();
  const auto reasons = event_reasons(last);
  CHECK(reasons.back() == "Failed");  // the summary, always
  CHECK(std::count(reasons.begin(), reasons.end(), "cmd-n7") == 1);
  CHECK(reasons.size() == (nodes > kNodeEventsForEveryNodeUpTo ? 2u : static_cast<std::size_t>(nodes) + 1));
}
