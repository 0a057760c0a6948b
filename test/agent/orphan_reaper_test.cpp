// The orphan reaper with real processes: this test process makes itself a subreaper, like the agent does.
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>

#include "agent/execution.hpp"
#include "agent/orphan_reaper.hpp"
#include "support/process_table.hpp"
#include "support/run_until.hpp"

using namespace std::chrono_literals;
namespace agent = jarvis::agent;
namespace test = jarvis::test;

TEST_CASE("orphans a command leaves behind are collected, supervised shells are not", "[orphans]") {
  REQUIRE(::prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);
  boost::asio::io_context io;
  jarvis::Logger log{jarvis::LogLevel::debug, stderr};
  agent::ExecutionSpec spec;
  spec.id = "leaves-an-orphan";
  spec.command = "sleep 1000 & echo started";
  const auto execution = agent::Execution::start(
      io.get_executor(), spec, agent::ExecutionEnvironment{.host_root = "/", .node_name = "n", .kill_grace_period = 1s},
      log, {});
  REQUIRE(test::run_until(io, [&] { return execution->finished(); }, 10s));
  // The killed background sleep was re-parented to this process and waits to be collected.
  REQUIRE(test::eventually([] { return !test::zombie_children_of(::getpid()).empty(); }, 5s));

  const pid_t supervised = ::fork();
  if (supervised == 0) ::_exit(0);
  REQUIRE(test::eventually([&] { return test::zombie_children_of(::getpid()).size() == 2; }, 5s));

  agent::OrphanReaper reaper(io.get_executor(), [&](pid_t pid) { return pid == supervised; }, log);
  CHECK(reaper.sweep() == 1);
  CHECK(test::zombie_children_of(::getpid()) == std::vector<pid_t>{supervised});
  int status;
  CHECK(::waitpid(supervised, &status, 0) == supervised);
}

// The agent's event loop ends only when nothing waits on it: a SIGCHLD wait that had already completed when
// stop() was called must not start a new wait (seen as an agent that never exited after SIGTERM).
TEST_CASE("after stop() the reaper leaves its event loop no work, even with a SIGCHLD already delivered",
          "[orphans][shutdown]") {
  REQUIRE(::prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);
  jarvis::Logger log{jarvis::LogLevel::debug, stderr};
  boost::asio::io_context io;
  agent::OrphanReaper reaper(io.get_executor(), [](pid_t) { return false; }, log);
  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  REQUIRE(test::eventually([&] { return !test::zombie_children_of(::getpid()).empty(); }, 5s));
  // The event loop reads the delivered SIGCHLD with no wait pending and keeps it: the wait start() begins
  // completes at once, and its completion is queued before stop() can cancel it.
  {
    const auto work = boost::asio::make_work_guard(io);  // without work, poll() returns before reading it
    io.poll();
  }
  io.restart();  // poll() stopped the loop when the guard went
  reaper.start();
  reaper.stop();

  const auto began = std::chrono::steady_clock::now();
  io.run_for(10s);
  CHECK(io.stopped());
  CHECK(std::chrono::steady_clock::now() - began < 5s);
  int status;
  ::waitpid(child, &status, WNOHANG);  // the last sweep before stop() may or may not have collected it
}
