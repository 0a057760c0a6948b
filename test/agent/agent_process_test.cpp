// Integration: a real `jarvis --role=agent` process on a loopback port, driven by a real gRPC client and by
// jarvis-agentctl. The paths of both programs come from the environment (JARVIS_BIN, JARVIS_AGENTCTL).
#include <signal.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <grpcpp/client_context.h>
#include <rapidjson/document.h>

#include "agent_under_test.hpp"
#include "jarvis.grpc.pb.h"
#include "support/child_program.hpp"
#include "support/client_credentials.hpp"
#include "support/process_table.hpp"
#include "support/run_until.hpp"
#include "support/temporary_directory.hpp"

using namespace std::chrono_literals;
namespace v1 = jarvis::v1;
namespace test = jarvis::test;

using test::AgentUnderTest;
using test::count_lines;
using test::has_message;
using test::json_lines;
using test::program_path;

TEST_CASE("the agent runs a command and reports its whole result", "[agent][grpc]") {
  AgentUnderTest agent;
  const auto started = agent.start("result-1", "echo hello; echo oops >&2; exit 4");
  REQUIRE(started.status.ok());
  CHECK(started.execution.execution_id() == "result-1");
  CHECK(started.execution.start_time_unix_ms() > 0);

  const auto done = agent.wait_until_finished("result-1");
  REQUIRE(done.status.ok());
  const auto& e = done.execution;
  CHECK(e.state() == v1::STATE_FAILED);
  CHECK(e.exited());
  CHECK(e.exit_code() == 4);
  CHECK(e.signal() == 0);
  CHECK(e.output() == "hello\noops\n");
  CHECK(e.output_bytes_total() == 11);
  CHECK_FALSE(e.truncated());
  CHECK(e.node_name() == "test-node");
  CHECK(e.command() == "echo hello; echo oops >&2; exit 4");
  CHECK(e.reason() == "exited with status 4");
  CHECK(e.end_time_unix_ms() >= e.start_time_unix_ms());
}

TEST_CASE("Start with a known id returns that execution and never runs the command again", "[agent][grpc]") {
  AgentUnderTest agent;
  test::TemporaryDirectory tmp;
  const auto file = tmp.path() / "runs";
  const std::string command = "echo ran >> '" + file.string() + "'; sleep 1";
  const auto first = agent.start("once", command);
  const auto second = agent.start("once", "echo other >> '" + file.string() + "'");
  REQUIRE(first.status.ok());
  REQUIRE(second.status.ok());
  CHECK(second.execution.start_time_unix_ms() == first.execution.start_time_unix_ms());
  CHECK(second.execution.command() == command);

  REQUIRE(agent.wait_until_finished("once").execution.state() == v1::STATE_SUCCEEDED);
  const auto after = agent.start("once", command);
  REQUIRE(after.status.ok());
  CHECK(after.execution.state() == v1::STATE_SUCCEEDED);
  CHECK(after.execution.start_time_unix_ms() == first.execution.start_time_unix_ms());
  CHECK(count_lines(file) == 1);
}

TEST_CASE("Wait fetches or long-polls, Cancel stops, Wait of an unknown id is NOT_FOUND", "[agent][grpc]") {
  AgentUnderTest agent;
  REQUIRE(agent.start("sleeper", "sleep 1000").status.ok());

  const auto fetched = agent.wait("sleeper", 0);
  REQUIRE(fetched.status.ok());
  CHECK(fetched.execution.state() == v1::STATE_RUNNING);
  CHECK(fetched.execution.end_time_unix_ms() == 0);

  const auto polled_at = std::chrono::steady_clock::now();
  const auto polled = agent.wait("sleeper", 300);
  REQUIRE(polled.status.ok());
  CHECK(polled.execution.state() == v1::STATE_RUNNING);
  CHECK(std::chrono::steady_clock::now() - polled_at >= 300ms);

  REQUIRE(agent.cancel("sleeper").status.ok());
  const auto canceled = agent.wait_until_finished("sleeper");
  CHECK(canceled.execution.state() == v1::STATE_CANCELED);
  CHECK(canceled.execution.reason() == "canceled: sent SIGTERM to its process group");
  CHECK(agent.cancel("sleeper").execution.state() == v1::STATE_CANCELED);

  const auto unknown_wait = agent.wait("never-started", 0);
  CHECK(unknown_wait.status.error_code() == grpc::StatusCode::NOT_FOUND);
  CHECK_THAT(unknown_wait.status.error_message(), Catch::Contains("never-started"));
  CHECK(agent.wait("bad id", 0).status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_CASE("the timeout of a request kills its command", "[agent][grpc]") {
  AgentUnderTest agent({"--kill-grace-period=1"});
  REQUIRE(agent.start("slow", "sleep 1000", 1).status.ok());
  const auto done = agent.wait_until_finished("slow");
  CHECK(done.execution.state() == v1::STATE_TIMED_OUT);
  CHECK(done.execution.reason() == "timed out after 1 s: sent SIGTERM to its process group");
}

TEST_CASE("beyond --max-concurrent Start fails with RESOURCE_EXHAUSTED", "[agent][grpc]") {
  AgentUnderTest agent({"--max-concurrent=2"});
  REQUIRE(agent.start("busy-1", "sleep 1000").status.ok());
  REQUIRE(agent.start("busy-2", "sleep 1000").status.ok());
  const auto refused = agent.start("busy-3", "true");
  CHECK(refused.status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED);
  CHECK_THAT(refused.status.error_message(), Catch::Contains("--max-concurrent"));
  CHECK(agent.wait("busy-3", 0).status.error_code() == grpc::StatusCode::NOT_FOUND);

  REQUIRE(agent.cancel("busy-1").status.ok());
  REQUIRE(agent.wait_until_finished("busy-1").execution.state() == v1::STATE_CANCELED);
  CHECK(agent.start("busy-3", "true").status.ok());
  REQUIRE(agent.cancel("busy-2").status.ok());
}

TEST_CASE("malformed requests are refused clearly and the agent keeps serving", "[agent][grpc]") {
  AgentUnderTest agent;
  const auto empty = agent.start("empty", "");
  CHECK(empty.status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK(empty.status.error_message() == "command is empty");

  const auto huge = agent.start("huge", std::string(70 * 1024, 'x'));
  CHECK(huge.status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK(huge.status.error_message() == "command is 71680 bytes; the most accepted is 65536");

  const auto enormous = agent.start("enormous", std::string(1 << 20, 'x'));
  CHECK(enormous.status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED);

  CHECK(agent.start("", "true").status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK(agent.start("has/slash", "true").status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  const auto long_timeout = agent.start("long", "true", 86401);
  CHECK(long_timeout.status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK_THAT(long_timeout.status.error_message(), Catch::StartsWith("timeout_seconds is 86401"));

  for (const auto* id : {"empty", "huge", "enormous", "long"})
    CHECK(agent.wait(id, 0).status.error_code() == grpc::StatusCode::NOT_FOUND);
  REQUIRE(agent.start("still-serving", "echo yes").status.ok());
  CHECK(agent.wait_until_finished("still-serving").execution.output() == "yes\n");
}

TEST_CASE("a request may lower the output cap but never raise it", "[agent][grpc]") {
  AgentUnderTest agent({"--max-output-bytes=1000"});
  REQUIRE(agent.start("lowered", "seq 1 10000", 0, 100).status.ok());
  const auto lowered = agent.wait_until_finished("lowered").execution;
  CHECK(lowered.truncated());
  CHECK(lowered.output_bytes_total() == 48894);
  CHECK_THAT(lowered.output(), Catch::StartsWith("1\n2\n3\n") && Catch::EndsWith("9999\n10000\n") &&
                                   Catch::Contains("[jarvis: 48794 bytes omitted]"));

  REQUIRE(agent.start("raised", "seq 1 10000", 0, 10 << 20).status.ok());
  const auto raised = agent.wait_until_finished("raised").execution;
  CHECK(raised.truncated());
  CHECK_THAT(raised.output(), Catch::Contains("[jarvis: 47894 bytes omitted]"));
}

TEST_CASE("each execution is logged when it starts and when it ends", "[agent][log]") {
  AgentUnderTest agent;
  v1::StartRequest request;
  request.set_execution_id("logged");
  request.set_command("echo logged");
  request.mutable_origin()->set_namespace_("team-a");
  request.mutable_origin()->set_name("uptime");
  request.mutable_origin()->set_uid("0b5d");
  request.mutable_origin()->set_generation(3);
  REQUIRE(agent.start(request).status.ok());
  REQUIRE(agent.wait_until_finished("logged").execution.state() == v1::STATE_SUCCEEDED);

  const bool logged = test::eventually(
      [&] {
        int found = 0;
        for (const auto& line : json_lines(agent.program().standard_output())) {
          if (!line.HasMember("execution_id") || std::string(line["execution_id"].GetString()) != "logged") continue;
          if (has_message(line, "execution started") && std::string(line["command"].GetString()) == "echo logged" &&
              std::string(line["origin_namespace"].GetString()) == "team-a" &&
              std::string(line["origin_name"].GetString()) == "uptime" && line["origin_generation"].GetInt() == 3 &&
              std::string(line["node"].GetString()) == "test-node")
            ++found;
          if (has_message(line, "execution finished") && std::string(line["state"].GetString()) == "succeeded" &&
              line["exit_code"].GetInt() == 0 && line["output_bytes_total"].GetInt() == 7 &&
              line.HasMember("duration_ms"))
            ++found;
        }
        return found == 2;
      },
      5s);
  INFO(agent.program().standard_output());
  CHECK(logged);
}

TEST_CASE("SIGTERM stops the agent with status 0 and leaves no process behind", "[agent][shutdown]") {
  AgentUnderTest agent({"--kill-grace-period=2", "--log-level=debug"});
  REQUIRE(agent.start("tree-at-shutdown", "sleep 1000 & sleep 1000; wait").status.ok());
  const std::string marker = "JARVIS_EXECUTION_ID=tree-at-shutdown";
  REQUIRE(test::eventually([&] { return test::live_processes_with_environment(marker).size() == 3; }, 10s));

  auto long_poll = std::async(std::launch::async, [&] { return agent.wait("tree-at-shutdown", 60'000); });
  REQUIRE(test::eventually(
      [&] { return agent.program().standard_output().find("\"long-poll started\"") != std::string::npos; }, 10s));
  const auto signalled_at = std::chrono::steady_clock::now();
  agent.program().signal(SIGTERM);

  const auto exit = agent.program().wait_for_exit(30s);
  // Once seen hanging past 30 s while the whole suite and a CI run loaded the machine (not reproduced alone):
  // the agent's own lines say which step of its shutdown it was in.
  INFO(agent.program().standard_output());
  REQUIRE(exit.has_value());
  CHECK(exit->status == 0);
  CHECK(std::chrono::steady_clock::now() - signalled_at < 15s);
  CHECK(test::eventually([&] { return test::live_processes_with_environment(marker).empty(); }, 5s));
  REQUIRE(long_poll.wait_for(15s) == std::future_status::ready);
  CHECK(long_poll.get().status.ok());
  CHECK_THAT(agent.program().standard_output(), Catch::Contains("\"agent stopped\""));
}

TEST_CASE("the agent adopts and collects processes that escaped a command's process group", "[agent][orphans]") {
  AgentUnderTest agent;
  const std::string marker = "JARVIS_EXECUTION_ID=escaping";
  struct KillEscapedOnExit {
    const std::string& marker;
    ~KillEscapedOnExit() {
      for (const pid_t pid : test::live_processes_with_environment(marker)) ::kill(pid, SIGKILL);
    }
  } cleanup{marker};
  // The shell waits until the escaped process runs in its own session: otherwise, on a busy machine, the
  // agent's kill of the shell's process group at exit can come before setsid() and nothing escapes.
  REQUIRE(agent.start("escaping",
                      "f=$(mktemp); setsid sh -c \"echo > $f; exec sleep 1000\" & "
                      "while [ ! -s \"$f\" ]; do sleep 0.01; done; rm -f \"$f\"; echo started")
              .status.ok());
  REQUIRE(agent.wait_until_finished("escaping").execution.output() == "started\n");
  std::vector<pid_t> escaped;
  REQUIRE(test::eventually([&] { return (escaped = test::live_processes_with_environment(marker)).size() == 1; }, 5s));
  CHECK(test::parent_of(escaped[0]) == agent.program().pid());

  ::kill(escaped[0], SIGKILL);
  CHECK(test::eventually([&] { return test::parent_of(escaped[0]) == 0; }, 5s));
}

TEST_CASE("an address already in use is a clear start-up failure", "[agent][cli]") {
  AgentUnderTest first;
  test::TemporaryDirectory state_dir;
  test::ChildProgram second({program_path("JARVIS_BIN"), "--role=agent", "--listen=" + first.target(),
                             "--host-root=/", "--insecure", "--state-dir=" + state_dir.path().string(),
                             "--health-probe-bind-address=127.0.0.1:0"});
  const auto exit = second.wait_for_exit(30s);
  REQUIRE(exit.has_value());
  CHECK(exit->status == 1);
  CHECK_THAT(second.standard_output(), Catch::Contains("agent could not listen"));
}

TEST_CASE("a state directory that cannot be created is a clear start-up failure", "[agent][cli]") {
  test::TemporaryDirectory tmp;
  const auto not_a_directory = tmp.path() / "file";
  std::ofstream(not_a_directory) << "x";
  const std::string state_dir = (not_a_directory / "state").string();
  const auto run = test::run_program({program_path("JARVIS_BIN"), "--role=agent", "--listen=127.0.0.1:0",
                                      "--host-root=/", "--insecure", "--state-dir=" + state_dir,
                                      "--health-probe-bind-address=127.0.0.1:0"});
  CHECK(run.status == 1);
  CHECK_THAT(run.standard_output, Catch::Contains("agent cannot keep its journal") &&
                                      Catch::Contains("cannot create the state directory " + state_dir +
                                                      " (--state-dir, where the agent keeps its journal): Not a directory"));
}

TEST_CASE("jarvis --help exits 0 and documents the agent flags", "[agent][cli]") {
  const auto run = test::run_program({program_path("JARVIS_BIN"), "--help"});
  CHECK(run.status == 0);
  for (const auto* flag : {"--listen", "--host-root", "--node-name", "--max-output-bytes", "--max-concurrent",
                           "--retain-finished", "--retain-finished-for", "--kill-grace-period", "--default-timeout",
                           "--insecure", "--tls-dir", "--tls-refresh-interval", "--state-dir", "--journal-max-bytes"})
    CHECK_THAT(run.standard_output, Catch::Contains(flag));
}

TEST_CASE("an unknown role or a bad agent flag exits 2 with one line naming the flag", "[agent][cli]") {
  struct Case {
    std::vector<std::string> flags;
    std::string named;
  };
  const std::vector<Case> cases = {
      {{"--role=nope"}, "--role"},
      {{"--role=agent", "--max-output-bytes=-1"}, "--max-output-bytes"},
      {{"--role=agent", "--max-output-bytes=0"}, "--max-output-bytes"},
      {{"--role=agent", "--max-concurrent=0"}, "--max-concurrent"},
      {{"--role=agent", "--default-timeout=86401"}, "--default-timeout"},
      {{"--role=agent", "--kill-grace-period=abc"}, "--kill-grace-period"},
      {{"--role=agent", "--host-root=/does/not/exist"}, "--host-root"},
      {{"--role=agent", "--tls-refresh-interval=0"}, "--tls-refresh-interval"},
      {{"--role=agent", "--journal-max-bytes=1000"}, "--journal-max-bytes"},
      {{"--role=controller", "--cert-lifetime=5s"}, "--cert-lifetime"},
      {{"--role=controller", "--cert-lifetime=ninety days"}, "--cert-lifetime"},
  };
  for (const auto& c : cases) {
    std::vector<std::string> argv = {program_path("JARVIS_BIN")};
    argv.insert(argv.end(), c.flags.begin(), c.flags.end());
    const auto run = test::run_program(argv);
    INFO(c.flags.back() << " -> " << run.standard_error);
    CHECK(run.status == 2);
    CHECK_THAT(run.standard_error, Catch::Contains(c.named));
    CHECK(std::count(run.standard_error.begin(), run.standard_error.end(), '\n') == 1);
  }
}

TEST_CASE("jarvis-agentctl prints the Execution as one JSON line", "[agent][agentctl]") {
  AgentUnderTest agent;
  const std::string agentctl = program_path("JARVIS_AGENTCTL");
  const auto started = test::run_program(
      {agentctl, "--target", agent.target(), "--insecure", "start", "--id", "ctl-1", "--command", "printf 'hi\\377\\n'; exit 5",
       "--wait"});
  INFO(started.standard_error);
  REQUIRE(started.status == 0);
  REQUIRE(std::count(started.standard_output.begin(), started.standard_output.end(), '\n') == 1);
  rapidjson::Document doc;
  doc.Parse(started.standard_output.c_str());
  REQUIRE_FALSE(doc.HasParseError());
  CHECK(std::string(doc["execution_id"].GetString()) == "ctl-1");
  CHECK(std::string(doc["state"].GetString()) == "STATE_FAILED");
  CHECK(doc["exit_code"].GetInt() == 5);
  CHECK(std::string(doc["output"].GetString()) == "hi\xEF\xBF\xBD\n");
  CHECK(doc["output_bytes_total"].GetUint64() == 4);
  CHECK(std::string(doc["node_name"].GetString()) == "test-node");

  const auto fetched = test::run_program({agentctl, "--target", agent.target(), "--insecure", "wait", "--id", "ctl-1"});
  CHECK(fetched.status == 0);
  CHECK_THAT(fetched.standard_output, Catch::Contains("\"STATE_FAILED\""));

  const auto missing = test::run_program({agentctl, "--target", agent.target(), "--insecure", "wait", "--id", "nope"});
  CHECK(missing.status == 1);
  CHECK_THAT(missing.standard_error, Catch::Contains("NOT_FOUND"));
  CHECK(missing.standard_output.empty());
}
