// The registry with real executions: idempotent start, the concurrency bound, retention, shutdown.
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>

#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>

#include "agent/execution_registry.hpp"
#include "support/run_until.hpp"
#include "support/temporary_directory.hpp"

using namespace std::chrono_literals;
using jarvis::agent::ExecutionEnvironment;
using jarvis::agent::ExecutionRegistry;
using jarvis::agent::ExecutionSpec;
using jarvis::agent::ExecutionState;
using jarvis::agent::RegistryLimits;
using jarvis::agent::StartRefusal;
namespace test = jarvis::test;

namespace {

struct Harness {
  explicit Harness(RegistryLimits limits = {})
      : registry(io.get_executor(), ExecutionEnvironment{.host_root = "/", .node_name = "test-node", .kill_grace_period = 1s}, limits, log) {}

  boost::asio::io_context io;
  jarvis::Logger log{jarvis::LogLevel::info, stderr};
  ExecutionRegistry registry;

  static ExecutionSpec spec(std::string id, std::string command) {
    ExecutionSpec spec;
    spec.id = std::move(id);
    spec.command = std::move(command);
    spec.timeout = 60s;
    return spec;
  }

  void run_until_idle() {
    REQUIRE(test::run_until(io, [&] { return registry.running() == 0; }, 30s));
  }
};

int count_lines(const std::filesystem::path& file) {
  std::ifstream in(file);
  int lines = 0;
  for (std::string line; std::getline(in, line);) ++lines;
  return lines;
}

}  // namespace

TEST_CASE("starting a known id again never runs the command a second time", "[registry]") {
  Harness h;
  test::TemporaryDirectory tmp;
  const auto file = tmp.path() / "runs";
  const std::string command = "echo ran >> '" + file.string() + "'; sleep 1";

  auto first = h.registry.start(Harness::spec("once", command));
  REQUIRE(first.ok());
  CHECK(first->created);
  auto while_running = h.registry.start(Harness::spec("once", command));
  REQUIRE(while_running.ok());
  CHECK_FALSE(while_running->created);
  CHECK(while_running->execution == first->execution);

  h.run_until_idle();
  auto after_finish = h.registry.start(Harness::spec("once", "echo something else >> '" + file.string() + "'"));
  REQUIRE(after_finish.ok());
  CHECK_FALSE(after_finish->created);
  CHECK(after_finish->execution->status().state == ExecutionState::succeeded);
  CHECK(after_finish->execution->status().command == command);
  h.run_until_idle();
  CHECK(count_lines(file) == 1);
}

TEST_CASE("beyond max_running new starts are refused until one finishes", "[registry]") {
  Harness h(RegistryLimits{.max_running = 2});
  REQUIRE(h.registry.start(Harness::spec("a", "sleep 1000")).ok());
  REQUIRE(h.registry.start(Harness::spec("b", "sleep 1000")).ok());
  CHECK(h.registry.running() == 2);

  auto refused = h.registry.start(Harness::spec("c", "echo c"));
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == static_cast<int>(StartRefusal::too_many_running));
  CHECK(refused.error().message ==
        "node test-node is already running 2 executions, the most it runs at once (--max-concurrent); retry later");
  CHECK(h.registry.find("c") == nullptr);
  CHECK(h.registry.start(Harness::spec("a", "sleep 1000")).ok());  // a known id is still answered

  h.registry.find("a")->cancel();
  REQUIRE(test::run_until(h.io, [&] { return h.registry.running() == 1; }, 10s));
  auto accepted = h.registry.start(Harness::spec("c", "echo c"));
  REQUIRE(accepted.ok());
  CHECK(accepted->created);
  h.registry.find("b")->cancel();
  h.run_until_idle();
}

TEST_CASE("a start that fails is retained and does not count as running", "[registry]") {
  test::TemporaryDirectory tmp;
  boost::asio::io_context io;
  jarvis::Logger log{jarvis::LogLevel::info, stderr};
  ExecutionRegistry registry(io.get_executor(), ExecutionEnvironment{.host_root = tmp.path().string(), .node_name = "test-node", .kill_grace_period = 1s}, {}, log);
  auto started = registry.start(Harness::spec("no-shell", "echo hi"));
  REQUIRE(started.ok());
  CHECK(started->execution->status().state == ExecutionState::start_failed);
  CHECK(registry.running() == 0);
  CHECK(registry.retained_finished() == 1);
  CHECK(registry.find("no-shell") == started->execution);
}

TEST_CASE("finished results are retained up to a count, oldest forgotten first", "[registry][retention]") {
  Harness h(RegistryLimits{.max_retained_finished = 2});
  for (const auto* id : {"first", "second", "third"}) {
    REQUIRE(h.registry.start(Harness::spec(id, "true")).ok());
    h.run_until_idle();
  }
  CHECK(h.registry.find("first") == nullptr);
  CHECK(h.registry.find("second") != nullptr);
  CHECK(h.registry.find("third") != nullptr);
  CHECK(h.registry.retained_finished() == 2);
}

TEST_CASE("finished results are forgotten after the retention time", "[registry][retention]") {
  Harness h(RegistryLimits{.retain_finished_for = 1s});
  REQUIRE(h.registry.start(Harness::spec("short-lived", "true")).ok());
  h.run_until_idle();
  CHECK(h.registry.find("short-lived") != nullptr);
  CHECK(test::eventually([&] { return h.registry.find("short-lived") == nullptr; }, 5s));
}

TEST_CASE("shutdown cancels running executions and refuses new ones", "[registry][shutdown]") {
  Harness h;
  auto running = h.registry.start(Harness::spec("running", "sleep 1000"));
  REQUIRE(running.ok());
  h.registry.begin_shutdown();
  auto refused = h.registry.start(Harness::spec("late", "true"));
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == static_cast<int>(StartRefusal::shutting_down));
  h.run_until_idle();
  CHECK(running->execution->status().state == ExecutionState::canceled);
}
