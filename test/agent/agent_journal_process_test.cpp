// The journal across agent processes: a real agent SIGKILLed and started again on the same --state-dir,
// resumed Starts, tombstones, a damaged journal file, a full disk (a small tmpfs).
#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "agent_under_test.hpp"
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

namespace {

std::int64_t now_unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// A command that appends one line to `marker` each time it runs.
std::string marking(const std::filesystem::path& marker, const std::string& then = "") {
  return "echo ran >> '" + marker.string() + "'" + (then.empty() ? "" : "; " + then);
}

// Kills, when the test ends however it ends, what a SIGKILLed agent left running.
struct KillLeftovers {
  std::string environment_entry;
  ~KillLeftovers() {
    for (const pid_t pid : test::live_processes_with_environment(environment_entry)) ::kill(pid, SIGKILL);
  }
};

void stop(AgentUnderTest& agent, int signal_number) {
  agent.program().signal(signal_number);
  REQUIRE(agent.program().wait_for_exit(30s).has_value());
}

bool logged(AgentUnderTest& agent, const char* message) {
  for (const auto& line : json_lines(agent.program().standard_output()))
    if (has_message(line, message)) return true;
  return false;
}

}  // namespace

TEST_CASE("an execution running when the agent is SIGKILLed is reported interrupted after a restart and never "
          "run again; older results are served from the journal",
          "[agent][journal]") {
  test::TemporaryDirectory state_dir;
  test::TemporaryDirectory tmp;
  const auto marker = tmp.path() / "ran";
  const std::string command = marking(marker, "sleep 30");
  KillLeftovers leftovers{"JARVIS_EXECUTION_ID=victim"};
  std::int64_t started_at = 0;
  {
    AgentUnderTest agent({}, state_dir.path());
    REQUIRE(agent.start("older", "echo older output").status.ok());
    REQUIRE(agent.wait_until_finished("older").execution.state() == v1::STATE_SUCCEEDED);
    const auto started = agent.start("victim", command);
    REQUIRE(started.status.ok());
    started_at = started.execution.start_time_unix_ms();
    REQUIRE(test::eventually([&] { return count_lines(marker) == 1; }, 20s));
    stop(agent, SIGKILL);
  }
  REQUIRE(test::live_processes_with_environment(leftovers.environment_entry).size() >= 1);

  AgentUnderTest restarted({}, state_dir.path());
  INFO(restarted.program().standard_output());
  // What was left of the command (its process group) is killed by the new agent.
  CHECK(test::eventually(
      [&] { return test::live_processes_with_environment(leftovers.environment_entry).empty(); }, 20s));
  CHECK(logged(restarted, "killed what was left of an interrupted execution (its process group)"));
  CHECK(logged(restarted, "execution interrupted: the agent stopped while it ran; it is not started again"));

  const auto waited = restarted.wait("victim", 0);
  REQUIRE(waited.status.ok());
  CHECK(waited.execution.state() == v1::STATE_INTERRUPTED);
  CHECK_THAT(waited.execution.reason(),
             Catch::StartsWith("the agent stopped while this execution ran (found interrupted at agent start ") &&
                 Catch::EndsWith("); it may have run partly and is not started again"));
  CHECK(waited.execution.command() == command);
  CHECK(waited.execution.node_name() == "test-node");
  CHECK(waited.execution.start_time_unix_ms() <= started_at);
  CHECK(waited.execution.end_time_unix_ms() >= started_at);

  const auto started_again = restarted.start("victim", command);
  REQUIRE(started_again.status.ok());
  CHECK(started_again.execution.state() == v1::STATE_INTERRUPTED);
  const auto resumed = restarted.resume("victim", command, now_unix_ms());
  REQUIRE(resumed.status.ok());
  CHECK(resumed.execution.state() == v1::STATE_INTERRUPTED);
  CHECK(restarted.cancel("victim").execution.state() == v1::STATE_INTERRUPTED);

  const auto older = restarted.wait("older", 0);
  REQUIRE(older.status.ok());
  CHECK(older.execution.state() == v1::STATE_SUCCEEDED);
  CHECK(older.execution.output() == "older output\n");
  CHECK(count_lines(marker) == 1);
}

TEST_CASE("a resumed Start runs an unknown id once when the journal covers its dispatch, refuses it otherwise, and "
          "answers a known id with its state",
          "[agent][journal]") {
  test::TemporaryDirectory state_dir;
  test::TemporaryDirectory tmp;
  AgentUnderTest agent({}, state_dir.path());
  const auto dispatched = now_unix_ms();

  const auto fresh = agent.resume("fresh", marking(tmp.path() / "fresh"), dispatched);
  REQUIRE(fresh.status.ok());
  REQUIRE(agent.wait_until_finished("fresh").execution.state() == v1::STATE_SUCCEEDED);
  const auto known = agent.resume("fresh", marking(tmp.path() / "fresh"), dispatched);
  REQUIRE(known.status.ok());
  CHECK(known.execution.state() == v1::STATE_SUCCEEDED);
  CHECK(known.execution.start_time_unix_ms() == fresh.execution.start_time_unix_ms());
  CHECK(count_lines(tmp.path() / "fresh") == 1);

  // Dispatched before this agent's journal existed: it may have reached an agent that kept no journal.
  const auto stale = agent.resume("stale", marking(tmp.path() / "stale"), 1'000);
  CHECK(stale.status.error_code() == grpc::StatusCode::NOT_FOUND);
  CHECK_THAT(stale.status.error_message(),
             Catch::StartsWith("no record of execution stale, and this agent's journal at " +
                               (state_dir.path() / "journal").string() + " only covers executions since ") &&
                 Catch::Contains("(journal created), not its dispatch at 1970-01-01T00:00:01.000000Z") &&
                 Catch::EndsWith(": it may have run before; not started again"));
  CHECK(agent.wait("stale", 0).status.error_code() == grpc::StatusCode::NOT_FOUND);

  v1::StartRequest no_time;
  no_time.set_execution_id("no-time");
  no_time.set_command("true");
  no_time.set_resume(true);
  const auto invalid = agent.start(no_time);
  CHECK(invalid.status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK_THAT(invalid.status.error_message(), Catch::StartsWith("dispatched_unix_ms is 0"));

  // The same through jarvis-agentctl.
  const std::string agentctl = test::program_path("JARVIS_AGENTCTL");
  const auto by_ctl = test::run_program({agentctl, "--target", agent.target(), "--insecure", "start", "--id",
                                         "ctl-stale",
                                         "--command", "true", "--resume", "--dispatched-unix-ms", "1000"});
  CHECK(by_ctl.status == 1);
  CHECK_THAT(by_ctl.standard_error,
             Catch::Contains("NOT_FOUND") && Catch::Contains("no record of execution ctl-stale"));
  const auto ctl_fresh = test::run_program({agentctl, "--target", agent.target(), "--insecure", "start", "--id",
                                            "ctl-fresh", "--command", "echo resumed", "--resume",
                                            "--dispatched-unix-ms", std::to_string(now_unix_ms()), "--wait"});
  CHECK(ctl_fresh.status == 0);
  CHECK_THAT(ctl_fresh.standard_output, Catch::Contains("\"STATE_SUCCEEDED\"") && Catch::Contains("resumed\\n"));
  CHECK_FALSE(std::filesystem::exists(tmp.path() / "stale"));
}

TEST_CASE("a Cancel of an unknown id leaves a tombstone: no later Start runs it, also after a restart",
          "[agent][journal]") {
  test::TemporaryDirectory state_dir;
  test::TemporaryDirectory tmp;
  const auto marker = tmp.path() / "ran";
  {
    AgentUnderTest agent({}, state_dir.path());
    const auto canceled = agent.cancel("early");
    REQUIRE(canceled.status.ok());
    CHECK(canceled.execution.state() == v1::STATE_CANCELED);
    CHECK(canceled.execution.reason() == "canceled before it started");
    CHECK(canceled.execution.end_time_unix_ms() > 0);
    CHECK_FALSE(canceled.execution.exited());

    CHECK(agent.start("early", marking(marker)).execution.state() == v1::STATE_CANCELED);
    CHECK(agent.resume("early", marking(marker), now_unix_ms()).execution.state() == v1::STATE_CANCELED);
    stop(agent, SIGKILL);
  }
  AgentUnderTest restarted({}, state_dir.path());
  const auto started = restarted.start("early", marking(marker));
  REQUIRE(started.status.ok());
  CHECK(started.execution.state() == v1::STATE_CANCELED);
  CHECK(started.execution.reason() == "canceled before it started");
  CHECK(restarted.resume("early", marking(marker), now_unix_ms()).execution.state() == v1::STATE_CANCELED);
  CHECK(restarted.wait("early", 0).execution.state() == v1::STATE_CANCELED);
  CHECK_FALSE(std::filesystem::exists(marker));
}

TEST_CASE("an agent whose journal was cut in the middle of a record starts, logs what it dropped and re-runs "
          "nothing it still knows",
          "[agent][journal]") {
  test::TemporaryDirectory state_dir;
  test::TemporaryDirectory tmp;
  {
    AgentUnderTest agent({}, state_dir.path());
    REQUIRE(agent.start("kept", marking(tmp.path() / "kept")).status.ok());
    REQUIRE(agent.wait_until_finished("kept").execution.state() == v1::STATE_SUCCEEDED);
    REQUIRE(agent.start("cut", marking(tmp.path() / "cut", "echo result")).status.ok());
    REQUIRE(agent.wait_until_finished("cut").execution.state() == v1::STATE_SUCCEEDED);
    stop(agent, SIGTERM);
  }
  // The last record is cut in half, as a power loss in the middle of its write would leave it.
  const auto journal = state_dir.path() / "journal";
  std::string bytes;
  {
    std::ifstream in(journal, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  const auto last_record = bytes.rfind("JRN1");
  REQUIRE(last_record != std::string::npos);
  REQUIRE(bytes.find("echo result", last_record) != std::string::npos);  // the result of "cut"
  const auto cut_at = last_record + (bytes.size() - last_record) / 2;
  std::filesystem::resize_file(journal, cut_at);
  const auto before_restart = now_unix_ms();

  AgentUnderTest restarted({}, state_dir.path());
  INFO(restarted.program().standard_output());
  bool reported = false;
  for (const auto& line : json_lines(restarted.program().standard_output()))
    if (has_message(line, "journal records dropped: torn or corrupted bytes were skipped; every intact record is kept"))
      reported = line["dropped_bytes"].GetUint64() == bytes.size() - cut_at &&
                 std::string(line["dropped_offsets"].GetString()) ==
                     std::to_string(last_record) + "-" + std::to_string(cut_at);
  CHECK(reported);

  const auto kept = restarted.start("kept", marking(tmp.path() / "kept"));
  REQUIRE(kept.status.ok());
  CHECK(kept.execution.state() == v1::STATE_SUCCEEDED);
  // Its result was in the lost bytes, its acceptance was not: it may have run, so it is not run again.
  const auto cut = restarted.start("cut", marking(tmp.path() / "cut"));
  REQUIRE(cut.status.ok());
  CHECK(cut.execution.state() == v1::STATE_INTERRUPTED);
  // An id the journal may have lost with those bytes is not resumed.
  const auto unknown = restarted.resume("unknown", "true", before_restart);
  CHECK(unknown.status.error_code() == grpc::StatusCode::NOT_FOUND);
  CHECK_THAT(unknown.status.error_message(), Catch::Contains("unreadable journal records were dropped at agent start"));
  CHECK(count_lines(tmp.path() / "kept") == 1);
  CHECK(count_lines(tmp.path() / "cut") == 1);
}

TEST_CASE("on a full disk Start is refused with FAILED_PRECONDITION naming the journal, runs nothing and keeps "
          "nothing; once there is room it runs once",
          "[agent][journal][disk-full]") {
  if (::geteuid() != 0) {
    WARN("skipped: mounting the small tmpfs this test fills needs root");
    return;
  }
  test::TemporaryDirectory mount_point;
  if (::mount("jarvis-journal-test", mount_point.path().c_str(), "tmpfs", MS_NOSUID | MS_NODEV,
              "size=512k,mode=0700") != 0) {
    WARN("skipped: cannot mount a tmpfs at " << mount_point.path() << ": " << std::strerror(errno));
    return;
  }
  struct Unmount {
    std::filesystem::path path;
    ~Unmount() { ::umount2(path.c_str(), MNT_DETACH); }
  } unmount{mount_point.path()};

  test::TemporaryDirectory tmp;
  const auto marker = tmp.path() / "ran";
  const auto state_dir = mount_point.path() / "state";
  // Larger than what is left in the journal file's last page, so that its record needs new pages.
  const std::string command = marking(marker) + "; : " + std::string(20'000, 'p');
  {
    AgentUnderTest agent({}, state_dir);
    REQUIRE(agent.start("before", "true").status.ok());
    REQUIRE(agent.wait_until_finished("before").execution.state() == v1::STATE_SUCCEEDED);

    const auto filler = mount_point.path() / "filler";
    {
      const int fd = ::open(filler.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
      REQUIRE(fd >= 0);
      const std::string block(4096, 'f');
      while (::write(fd, block.data(), block.size()) > 0) {
      }
      CHECK(errno == ENOSPC);
      ::close(fd);
    }

    const auto refused = agent.start("on-full-disk", command);
    CHECK(refused.status.error_code() == grpc::StatusCode::FAILED_PRECONDITION);
    CHECK(refused.status.error_message() == "cannot record execution on-full-disk in the journal " +
                                                (state_dir / "journal").string() +
                                                ": No space left on device; the command was not started");
    CHECK(agent.wait("on-full-disk", 0).status.error_code() == grpc::StatusCode::NOT_FOUND);
    CHECK_FALSE(std::filesystem::exists(marker));

    std::filesystem::remove(filler);
    const auto started = agent.start("on-full-disk", command);
    REQUIRE(started.status.ok());
    CHECK(agent.wait_until_finished("on-full-disk").execution.state() == v1::STATE_SUCCEEDED);
    CHECK(count_lines(marker) == 1);
    stop(agent, SIGTERM);
  }
  // The refused record left nothing behind in the journal: a new agent reads it whole.
  AgentUnderTest restarted({}, state_dir);
  CHECK_FALSE(
      logged(restarted, "journal records dropped: torn or corrupted bytes were skipped; every intact record is kept"));
  CHECK(restarted.wait("on-full-disk", 0).execution.state() == v1::STATE_SUCCEEDED);
  CHECK(restarted.wait("before", 0).execution.state() == v1::STATE_SUCCEEDED);
  CHECK(count_lines(marker) == 1);
}
