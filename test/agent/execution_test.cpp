// The execution machinery driven directly, without gRPC: real shells, real pipes, real process groups.
#include <signal.h>
#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>

#include "agent/execution.hpp"
#include "support/memory_usage.hpp"
#include "support/process_table.hpp"
#include "support/run_until.hpp"
#include "support/temporary_directory.hpp"

using namespace std::chrono_literals;
using jarvis::agent::Execution;
using jarvis::agent::ExecutionEnvironment;
using jarvis::agent::ExecutionSpec;
using jarvis::agent::ExecutionState;
using jarvis::agent::ExecutionStatus;
namespace test = jarvis::test;

namespace {

struct Harness {
  boost::asio::io_context io;
  jarvis::Logger log{jarvis::LogLevel::info, stderr};
  ExecutionEnvironment environment{.host_root = "/", .node_name = "test-node", .kill_grace_period = 1s};
  int finished_calls = 0;

  std::shared_ptr<Execution> start(std::string id, std::string command, std::chrono::seconds timeout = 60s,
                                   std::size_t max_output_bytes = 1 << 20) {
    return Execution::start(io.get_executor(),
                            ExecutionSpec{.id = std::move(id),
                                          .command = std::move(command),
                                          .timeout = timeout,
                                          .max_output_bytes = max_output_bytes,
                                          .origin = {},
                                          .requested_by = "test"},
                            environment, log, [this](const Execution&) { ++finished_calls; });
  }

  ExecutionStatus run_to_end(const std::shared_ptr<Execution>& execution, std::chrono::milliseconds limit = 30s) {
    REQUIRE(test::run_until(io, [&] { return execution->finished(); }, limit));
    return execution->status();
  }

  ExecutionStatus run(std::string command, std::chrono::seconds timeout = 60s) {
    return run_to_end(start("unit-" + std::to_string(++counter), std::move(command), timeout));
  }

  int counter = 0;
};

bool nothing_left_of(const std::shared_ptr<Execution>& execution) {
  return test::eventually(
      [&] {
        return test::live_processes_in_group(execution->process_group()).empty() &&
               test::live_processes_with_environment("JARVIS_EXECUTION_ID=" + execution->id()).empty();
      },
      5s);
}

std::filesystem::path make_busybox_root(const std::filesystem::path& root) {
  std::filesystem::create_directories(root / "bin");
  std::filesystem::copy_file("/bin/busybox", root / "bin" / "busybox");
  std::filesystem::create_symlink("busybox", root / "bin" / "sh");
  return root;
}

}  // namespace

TEST_CASE("a command that exits 0 succeeds and returns its output", "[execution]") {
  Harness h;
  const auto status = h.run("echo hello");
  CHECK(status.state == ExecutionState::succeeded);
  CHECK(status.exited);
  CHECK(status.exit_code == 0);
  CHECK(status.signal == 0);
  CHECK(status.output == "hello\n");
  CHECK(status.output_bytes_total == 6);
  CHECK_FALSE(status.truncated);
  CHECK(status.node_name == "test-node");
  CHECK(status.command == "echo hello");
  CHECK(status.reason.empty());
  REQUIRE(status.end_time.has_value());
  CHECK(*status.end_time >= status.start_time);
  CHECK(h.finished_calls == 1);
}

TEST_CASE("a non-zero exit is a failed result carrying the exit code", "[execution]") {
  Harness h;
  const auto status = h.run("echo about to fail; exit 3");
  CHECK(status.state == ExecutionState::failed);
  CHECK(status.exited);
  CHECK(status.exit_code == 3);
  CHECK(status.output == "about to fail\n");
  CHECK(status.reason == "exited with status 3");
}

TEST_CASE("a shell killed by a signal reports that signal", "[execution]") {
  Harness h;
  const auto status = h.run("kill -USR1 $$");
  CHECK(status.state == ExecutionState::failed);
  CHECK_FALSE(status.exited);
  CHECK(status.signal == SIGUSR1);
  CHECK(status.reason == "killed by SIGUSR1");
}

TEST_CASE("stdout and stderr are captured together in the order written", "[execution]") {
  Harness h;
  const auto status = h.run("for i in 1 2 3; do echo out$i; echo err$i >&2; done; printf tail >&2");
  CHECK(status.output == "out1\nerr1\nout2\nerr2\nout3\nerr3\ntail");
}

TEST_CASE("a command that prints nothing has empty output", "[execution]") {
  Harness h;
  const auto status = h.run("true");
  CHECK(status.state == ExecutionState::succeeded);
  CHECK(status.output.empty());
  CHECK(status.output_bytes_total == 0);
  CHECK_FALSE(status.truncated);
}

TEST_CASE("the command reads /dev/null and sees only the documented environment and descriptors",
          "[execution]") {
  Harness h;
  ::setenv("JARVIS_TEST_AGENT_SECRET", "must-not-leak", 1);
  const auto status = h.run("cat; env | sort; echo fds:; ls /proc/$$/fd; pwd");
  ::unsetenv("JARVIS_TEST_AGENT_SECRET");
  CHECK(status.state == ExecutionState::succeeded);
  CHECK(status.output ==
        "HOME=/root\n"
        "JARVIS_EXECUTION_ID=unit-1\n"
        "LANG=C.UTF-8\n"
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"
        "PWD=/\n"
        "fds:\n0\n1\n2\n"
        "/\n");
}

TEST_CASE("the command runs in its own session and process group", "[execution]") {
  Harness h;
  const auto execution = h.start("session", "ps -o pid= -o pgid= -o sid= -p $$");
  const auto status = h.run_to_end(execution);
  const std::string pid = std::to_string(execution->process_group());
  CHECK(status.output.find(pid) != std::string::npos);
  std::istringstream fields(status.output);
  std::string shell_pid, group, session;
  fields >> shell_pid >> group >> session;
  CHECK(shell_pid == pid);
  CHECK(group == pid);
  CHECK(session == pid);
}

TEST_CASE("a long output keeps the first and last halves of the cap, joined by a marker", "[execution][output]") {
  Harness h;
  constexpr std::size_t cap = 1000;
  const auto status = h.run_to_end(h.start("cap", "seq 1 100000", 60s, cap));
  std::string full;
  for (int i = 1; i <= 100000; ++i) full += std::to_string(i) + "\n";
  CHECK(status.truncated);
  CHECK(status.output_bytes_total == full.size());
  const std::string marker = "[jarvis: " + std::to_string(full.size() - cap) + " bytes omitted]\n";
  const std::string head = full.substr(0, cap / 2);
  const std::string expected = head + (head.back() == '\n' ? "" : "\n") + marker + full.substr(full.size() - cap / 2);
  CHECK(status.output == expected);
}

TEST_CASE("gigabytes of output keep the agent's memory bounded and are all counted", "[execution][output][memory]") {
  Harness h;
  constexpr std::uint64_t three_gib = 3ULL << 30;
  const std::uint64_t before = test::memory_in_use();
  std::uint64_t peak = before;
  const auto execution = h.start("gigabytes", "head -c 3221225472 /dev/zero", 300s);
  REQUIRE(test::run_until(h.io, [&] { return execution->finished(); }, 280s,
                          [&] { peak = std::max(peak, test::memory_in_use()); }));
  const auto status = execution->status();
  peak = std::max(peak, test::memory_in_use());
  const std::uint64_t growth = peak - before;
  WARN(test::memory_measure() << ": before " << before / 1024 << " KiB, peak " << peak / 1024 << " KiB, growth "
                              << growth / 1024 << " KiB while reading " << status.output_bytes_total << " bytes");
  CHECK(status.state == ExecutionState::succeeded);
  CHECK(status.output_bytes_total == three_gib);
  CHECK(status.truncated);
  CHECK(status.output.size() < (1 << 20) + 64);
  CHECK(growth < 64ULL << 20);
}

TEST_CASE("`yes` until its timeout is cut off with bounded memory", "[execution][output][memory]") {
  Harness h;
  const std::uint64_t before = test::memory_in_use();
  std::uint64_t peak = before;
  const auto execution = h.start("yes", "yes", 2s);
  REQUIRE(test::run_until(h.io, [&] { return execution->finished(); }, 30s,
                          [&] { peak = std::max(peak, test::memory_in_use()); }));
  const auto status = execution->status();
  WARN(test::memory_measure() << ": before " << before / 1024 << " KiB, peak " << peak / 1024 << " KiB while `yes` "
                              << "printed " << status.output_bytes_total << " bytes");
  CHECK(status.state == ExecutionState::timed_out);
  CHECK(status.truncated);
  CHECK(status.output_bytes_total > (1u << 20));
  CHECK(status.output.rfind("y\ny\ny\n", 0) == 0);
  CHECK(peak - before < 64ULL << 20);
}

TEST_CASE("a timeout kills the whole process tree", "[execution][kill]") {
  Harness h;
  const auto started = std::chrono::steady_clock::now();
  const auto execution = h.start("tree", "sleep 1000 & sleep 1000; wait", 1s);
  REQUIRE(test::run_until(h.io, [&] { return test::live_processes_in_group(execution->process_group()).size() == 3; },
                          5s));
  const auto status = h.run_to_end(execution);
  CHECK(status.state == ExecutionState::timed_out);
  CHECK(status.reason == "timed out after 1 s: sent SIGTERM to its process group");
  CHECK(std::chrono::steady_clock::now() - started < 10s);
  CHECK(nothing_left_of(execution));
}

TEST_CASE("a process tree that ignores SIGTERM gets SIGKILL after the grace period", "[execution][kill]") {
  Harness h;
  h.environment.kill_grace_period = 500ms;
  const auto execution = h.start("stubborn", "trap '' TERM; sleep 1000 & sleep 1000; wait", 1s);
  const auto status = h.run_to_end(execution);
  CHECK(status.state == ExecutionState::timed_out);
  CHECK(status.signal == SIGKILL);
  CHECK(status.reason ==
        "timed out after 1 s: sent SIGTERM to its process group, then SIGKILL after the 500 ms grace period");
  CHECK(nothing_left_of(execution));
}

TEST_CASE("background jobs do not outlive the shell nor hold its result back", "[execution][kill]") {
  Harness h;
  const auto started = std::chrono::steady_clock::now();
  const auto execution = h.start("background", "sleep 1000 & echo started");
  const auto status = h.run_to_end(execution);
  CHECK(status.state == ExecutionState::succeeded);
  CHECK(status.output == "started\n");
  CHECK(std::chrono::steady_clock::now() - started < 10s);
  CHECK(nothing_left_of(execution));
}

TEST_CASE("cancel stops a running command; cancelling a finished one changes nothing", "[execution][kill]") {
  Harness h;
  const auto execution = h.start("cancel-me", "echo waiting; sleep 1000");
  REQUIRE(test::run_until(h.io, [&] { return execution->status().output == "waiting\n"; }, 5s));
  execution->cancel();
  const auto status = h.run_to_end(execution);
  CHECK(status.state == ExecutionState::canceled);
  CHECK(status.reason == "canceled: sent SIGTERM to its process group");
  CHECK(status.output == "waiting\n");
  CHECK(nothing_left_of(execution));

  const auto done = h.run("echo done");
  REQUIRE(done.state == ExecutionState::succeeded);
  const auto finished = h.start("finished-then-cancelled", "true");
  h.run_to_end(finished);
  finished->cancel();
  CHECK(finished->status().state == ExecutionState::succeeded);
}

TEST_CASE("many executions run at once without waiting for each other", "[execution][concurrency]") {
  Harness h;
  constexpr int count = 40;
  std::vector<std::shared_ptr<Execution>> executions;
  const auto started = std::chrono::steady_clock::now();
  for (int i = 0; i < count; ++i)
    executions.push_back(h.start("parallel-" + std::to_string(i), "sleep 2; echo $JARVIS_EXECUTION_ID"));
  REQUIRE(test::run_until(
      h.io, [&] { return std::all_of(executions.begin(), executions.end(), [](auto& e) { return e->finished(); }); },
      60s));
  // Run one after the other they would need 80 s.
  CHECK(std::chrono::steady_clock::now() - started < 30s);
  for (int i = 0; i < count; ++i) {
    const auto status = executions[i]->status();
    CHECK(status.state == ExecutionState::succeeded);
    CHECK(status.output == "parallel-" + std::to_string(i) + "\n");
  }
  CHECK(h.finished_calls == count);
}

TEST_CASE("wait_finished resumes at the deadline while running and at once when finished", "[execution][wait]") {
  Harness h;
  const auto execution = h.start("waited", "sleep 1000");
  bool resumed = false;
  const auto began = std::chrono::steady_clock::now();
  boost::asio::co_spawn(h.io, execution->wait_finished(std::chrono::steady_clock::now() + 300ms),
                        [&](std::exception_ptr e) { resumed = !e; });
  REQUIRE(test::run_until(h.io, [&] { return resumed; }, 5s));
  CHECK(std::chrono::steady_clock::now() - began >= 300ms);
  CHECK_FALSE(execution->finished());

  resumed = false;
  boost::asio::co_spawn(h.io, execution->wait_finished(std::chrono::steady_clock::now() + 60s),
                        [&](std::exception_ptr e) { resumed = !e; });
  execution->cancel();
  REQUIRE(test::run_until(h.io, [&] { return resumed; }, 10s));
  CHECK(execution->finished());
}

TEST_CASE("release_waiters resumes waiters of a running execution at once", "[execution][wait]") {
  Harness h;
  const auto execution = h.start("released", "sleep 1000");
  bool resumed = false;
  boost::asio::co_spawn(h.io, execution->wait_finished(std::chrono::steady_clock::now() + 60s),
                        [&](std::exception_ptr e) { resumed = !e; });
  h.io.poll();
  execution->release_waiters();
  REQUIRE(test::run_until(h.io, [&] { return resumed; }, 5s));
  CHECK_FALSE(execution->finished());
  execution->cancel();
  h.run_to_end(execution);
}

TEST_CASE("commands run chrooted into the host root", "[execution][chroot]") {
  Harness h;
  test::TemporaryDirectory tmp;
  h.environment.host_root = make_busybox_root(tmp.path() / "root").string();
  const auto status = h.run("echo hi; ls /; pwd");
  CHECK(status.state == ExecutionState::succeeded);
  CHECK(status.output == "hi\nbin\n/\n");
}

TEST_CASE("a host root without /bin/sh gives a clear could-not-start result", "[execution][chroot]") {
  Harness h;
  test::TemporaryDirectory tmp;
  h.environment.host_root = tmp.path().string();
  const auto status = h.run("echo never");
  CHECK(status.state == ExecutionState::start_failed);
  CHECK(status.reason == "could not start: /bin/sh (or the loader it needs) not found in host root " +
                             tmp.path().string() + ": No such file or directory");
  CHECK(status.output.empty());
  REQUIRE(status.end_time.has_value());
  CHECK(h.finished_calls == 0);
}

TEST_CASE("a host root that does not exist gives a clear could-not-start result", "[execution][chroot]") {
  Harness h;
  test::TemporaryDirectory tmp;
  h.environment.host_root = (tmp.path() / "missing").string();
  const auto status = h.run("echo never");
  CHECK(status.state == ExecutionState::start_failed);
  CHECK(status.reason == "could not start: could not change root to host root " + h.environment.host_root +
                             ": No such file or directory");
}
