// The journal on its own, on real files: framing, round trip, damaged files, compaction, the horizon.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <rapidjson/document.h>

#include "agent/execution_journal.hpp"
#include "agent/execution_proto.hpp"
#include "agent/journal_frame.hpp"
#include "support/temporary_directory.hpp"

using namespace std::chrono_literals;
using jarvis::agent::ExecutionJournal;
using jarvis::agent::ExecutionSpec;
using jarvis::agent::ExecutionState;
using jarvis::agent::ExecutionStatus;
using jarvis::agent::RecoveredExecution;
namespace agent = jarvis::agent;
namespace test = jarvis::test;

namespace {

// A logger writing to a file the test reads back.
struct CapturedLog {
  CapturedLog() : file(std::tmpfile()), log(jarvis::LogLevel::debug, file) {}
  ~CapturedLog() { std::fclose(file); }

  std::vector<rapidjson::Document> lines_with(const std::string& message) {
    std::fflush(file);
    std::rewind(file);
    std::vector<rapidjson::Document> found;
    char buffer[8192];
    while (std::fgets(buffer, sizeof buffer, file) != nullptr) {
      rapidjson::Document line;
      line.Parse(buffer);
      if (!line.HasParseError() && line.IsObject() && line.HasMember("msg") &&
          std::string(line["msg"].GetString()).starts_with(message))
        found.push_back(std::move(line));
    }
    std::fseek(file, 0, SEEK_END);
    return found;
  }

  std::FILE* file;
  jarvis::Logger log;
};

std::int64_t now_unix_ms() { return agent::unix_ms(std::chrono::system_clock::now()); }

std::unique_ptr<ExecutionJournal> open_journal(const std::filesystem::path& dir, jarvis::Logger& log,
                                               std::uint64_t max_bytes = agent::default_journal_max_bytes) {
  auto journal = ExecutionJournal::open(dir, max_bytes, log);
  REQUIRE(journal.ok());
  return std::move(journal.value());
}

ExecutionSpec spec(const std::string& id, const std::string& command = "echo hi") {
  ExecutionSpec spec;
  spec.id = id;
  spec.command = command;
  spec.origin.namespace_name = "team-a";
  spec.origin.generation = 3;
  return spec;
}

ExecutionStatus finished(const std::string& id, const std::string& output = "hi\n") {
  ExecutionStatus status;
  status.execution_id = id;
  status.node_name = "test-node";
  status.command = "echo hi";
  status.state = ExecutionState::succeeded;
  status.exited = true;
  status.output = output;
  status.output_bytes_total = output.size();
  status.start_time = std::chrono::system_clock::now();
  status.end_time = status.start_time + 5ms;
  return status;
}

// Accepts and finishes `id`; returns the journal's size before it.
std::uint64_t run(ExecutionJournal& journal, const std::string& id, const std::string& output = "hi\n") {
  const auto before = journal.file_bytes();
  REQUIRE(journal.record_accepted(spec(id), std::chrono::system_clock::now()).ok());
  REQUIRE(journal.record_finished(finished(id, output)).ok());
  return before;
}

const RecoveredExecution* find(const std::vector<RecoveredExecution>& recovered, const std::string& id) {
  for (const auto& r : recovered)
    if (r.status.execution_id == id) return &r;
  return nullptr;
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void write_file(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

}  // namespace

TEST_CASE("a frame is read back whole; torn and corrupted frames are not, the next intact one is found",
          "[journal][frame]") {
  const std::string first = agent::encode_frame("first payload");
  const std::string second = agent::encode_frame("second");
  const std::string data = first + second;
  CHECK(agent::decode_frame(data, 0) == "first payload");
  CHECK(agent::decode_frame(data, first.size()) == "second");
  CHECK_FALSE(agent::decode_frame(data.substr(0, data.size() - 1), first.size()));  // torn
  std::string flipped = data;
  flipped[agent::frame_header_bytes + 2] ^= 0x01;
  CHECK_FALSE(agent::decode_frame(flipped, 0));
  CHECK(agent::next_intact_frame(flipped, 0) == first.size());
  CHECK(agent::next_intact_frame(data, first.size()) == data.size());
}

TEST_CASE("the journal gives back finished results, tombstones and interrupted executions", "[journal]") {
  test::TemporaryDirectory tmp;
  const auto dir = tmp.path() / "state" / "jarvis";
  CapturedLog captured;
  std::int64_t created = 0;
  {
    auto journal = open_journal(dir, captured.log);
    CHECK((std::filesystem::status(dir).permissions() & std::filesystem::perms::all) ==
          std::filesystem::perms::owner_all);
    CHECK(journal->path() == dir / "journal");
    CHECK(journal->horizon().reason == "journal created");
    created = journal->horizon().unix_ms;
    CHECK(journal->take_recovered().empty());

    run(*journal, "done", "the output\n");
    auto tombstone = finished("tombstone", "");
    tombstone.state = ExecutionState::canceled;
    tombstone.reason = "canceled before it started";
    REQUIRE(journal->record_finished(tombstone).ok());
    REQUIRE(journal->record_accepted(spec("running", "sleep 30"), std::chrono::system_clock::now()).ok());
    const agent::ProcessIdentity shell{.pid = 4242, .start_ticks = 7, .boot_id = "b"};
    REQUIRE(journal->record_spawned("running", shell).ok());
  }
  const auto reopened_at = now_unix_ms();
  std::string found_at;
  {
    auto journal = open_journal(dir, captured.log);
    CHECK(journal->horizon().unix_ms == created);
    const auto recovered = journal->take_recovered();
    REQUIRE(recovered.size() == 3);
    const auto* done = find(recovered, "done");
    REQUIRE(done != nullptr);
    CHECK(done->status.state == ExecutionState::succeeded);
    CHECK(done->status.output == "the output\n");
    CHECK(done->status.node_name == "test-node");
    CHECK(find(recovered, "tombstone")->status.reason == "canceled before it started");
    const auto* running = find(recovered, "running");
    REQUIRE(running != nullptr);
    CHECK(running->status.state == ExecutionState::interrupted);
    CHECK(running->status.command == "sleep 30");
    CHECK(agent::unix_ms(*running->status.end_time) >= reopened_at);
    CHECK_THAT(running->status.reason,
               Catch::StartsWith("the agent stopped while this execution ran (found interrupted at agent start ") &&
                   Catch::EndsWith("); it may have run partly and is not started again"));
    REQUIRE(running->shell.has_value());
    CHECK(running->shell->pid == 4242);
    CHECK(running->shell->start_ticks == 7);
    found_at = running->status.reason;
    CHECK(captured.lines_with("execution interrupted").size() == 1);
  }
  // Journaled as interrupted at once: a later start finds the same verdict, not a new one.
  auto journal = open_journal(dir, captured.log);
  const auto recovered = journal->take_recovered();
  REQUIRE(recovered.size() == 3);
  CHECK(find(recovered, "running")->status.reason == found_at);
  CHECK_FALSE(find(recovered, "running")->shell.has_value());
  CHECK(captured.lines_with("execution interrupted").size() == 1);
  CHECK(captured.lines_with("journal records dropped").empty());
}

TEST_CASE("a journal cut in the middle of a record keeps every record before it and moves the horizon",
          "[journal][damage]") {
  test::TemporaryDirectory tmp;
  CapturedLog captured;
  std::uint64_t cut_record_at = 0;
  {
    auto journal = open_journal(tmp.path(), captured.log);
    run(*journal, "one");
    run(*journal, "two");
    REQUIRE(journal->record_accepted(spec("three"), std::chrono::system_clock::now()).ok());
    cut_record_at = journal->file_bytes();
    REQUIRE(journal->record_finished(finished("three", std::string(5000, 'o'))).ok());
  }
  const auto file = tmp.path() / "journal";
  const auto size = std::filesystem::file_size(file);
  const auto cut_at = cut_record_at + (size - cut_record_at) / 2;
  std::filesystem::resize_file(file, cut_at);

  const auto reopened_at = now_unix_ms();
  auto journal = open_journal(tmp.path(), captured.log);
  const auto recovered = journal->take_recovered();
  CHECK(find(recovered, "one")->status.state == ExecutionState::succeeded);
  CHECK(find(recovered, "two")->status.state == ExecutionState::succeeded);
  // Its result was lost with the torn record; it was accepted, so it may have run: never run again.
  CHECK(find(recovered, "three")->status.state == ExecutionState::interrupted);
  // Whatever else the lost bytes held: a resumed Start dispatched before now is refused (the registry
  // compares the dispatch time with this horizon).
  CHECK(journal->horizon().unix_ms >= reopened_at);
  CHECK_THAT(journal->horizon().reason, Catch::StartsWith("unreadable journal records were dropped at agent start"));
  const auto dropped = captured.lines_with("journal records dropped");
  REQUIRE(dropped.size() == 1);
  CHECK(dropped[0]["dropped_ranges"].GetUint64() == 1);
  CHECK(dropped[0]["dropped_bytes"].GetUint64() == cut_at - cut_record_at);
  CHECK(std::string(dropped[0]["dropped_offsets"].GetString()) ==
        std::to_string(cut_record_at) + "-" + std::to_string(cut_at));

  // The damaged tail is gone from the file: what is appended now is read back.
  run(*journal, "four");
  journal.reset();
  auto again = open_journal(tmp.path(), captured.log);
  const auto recovered_again = again->take_recovered();
  CHECK(recovered_again.size() == 4);
  CHECK(find(recovered_again, "four") != nullptr);
  CHECK(captured.lines_with("journal records dropped").size() == 1);
}

TEST_CASE("a flipped byte loses only the record it hit", "[journal][damage]") {
  test::TemporaryDirectory tmp;
  CapturedLog captured;
  std::uint64_t second_at = 0;
  {
    auto journal = open_journal(tmp.path(), captured.log);
    run(*journal, "one");
    second_at = run(*journal, "two", "two's output\n");
    run(*journal, "three");
  }
  const auto file = tmp.path() / "journal";
  std::string bytes = read_file(file);
  bytes[second_at + 40] ^= 0x20;
  write_file(file, bytes);

  const auto reopened_at = now_unix_ms();
  auto journal = open_journal(tmp.path(), captured.log);
  const auto recovered = journal->take_recovered();
  CHECK(find(recovered, "one") != nullptr);
  CHECK(find(recovered, "three") != nullptr);
  // The flipped byte is in two's Accepted record: its Finished record still tells its result.
  CHECK(find(recovered, "two") != nullptr);
  CHECK(journal->horizon().unix_ms >= reopened_at);
  const auto dropped = captured.lines_with("journal records dropped");
  REQUIRE(dropped.size() == 1);
  CHECK(dropped[0]["dropped_ranges"].GetUint64() == 1);
}

TEST_CASE("compaction keeps the live records, bounds the file and replaces it atomically", "[journal][compaction]") {
  test::TemporaryDirectory tmp;
  CapturedLog captured;
  constexpr std::uint64_t max_bytes = 16 * 1024;
  {
    auto journal = open_journal(tmp.path(), captured.log, max_bytes);
    REQUIRE(journal->record_accepted(spec("long-running", "sleep 1000"), std::chrono::system_clock::now()).ok());
    // Held open, the first file keeps its inode: a compaction must leave it alone and rename a new one over it.
    const int first_file = ::open(journal->path().c_str(), O_RDONLY | O_CLOEXEC);
    REQUIRE(first_file >= 0);
    const auto first_size = std::filesystem::file_size(journal->path());
    for (int i = 0; i < 60; ++i) {
      run(*journal, "run-" + std::to_string(i), std::string(400, 'x'));
      if (i >= 2) journal->forget("run-" + std::to_string(i - 2));
      REQUIRE(journal->record_forgotten().ok());
      CHECK(journal->file_bytes() <= max_bytes + 1024);
      CHECK(std::filesystem::file_size(journal->path()) == journal->file_bytes());
    }
    CHECK_FALSE(captured.lines_with("journal compacted").empty());
    struct stat first{};
    struct stat now{};
    REQUIRE(::fstat(first_file, &first) == 0);
    REQUIRE(::stat(journal->path().c_str(), &now) == 0);
    CHECK(now.st_ino != first.st_ino);
    CHECK(first.st_nlink == 0);
    CHECK(static_cast<std::uint64_t>(first.st_size) >= first_size);  // appended to, never cut or rewritten
    ::close(first_file);
    CHECK_FALSE(std::filesystem::exists(tmp.path() / "journal.new"));
  }
  // A compaction that died before its rename leaves journal.new behind: ignored and removed.
  write_file(tmp.path() / "journal.new", "half a file");
  auto journal = open_journal(tmp.path(), captured.log, max_bytes);
  CHECK_FALSE(std::filesystem::exists(tmp.path() / "journal.new"));
  const auto recovered = journal->take_recovered();
  REQUIRE(recovered.size() == 3);
  CHECK(find(recovered, "run-58")->status.output == std::string(400, 'x'));
  CHECK(find(recovered, "run-59") != nullptr);
  CHECK(find(recovered, "long-running")->status.state == ExecutionState::interrupted);
  CHECK(captured.lines_with("journal records dropped").empty());
}

TEST_CASE("each eviction moves the horizon to the accept time of what was evicted, and it is persisted",
          "[journal][retention]") {
  test::TemporaryDirectory tmp;
  CapturedLog captured;
  auto journal = open_journal(tmp.path(), captured.log);
  const auto created = journal->horizon().unix_ms;
  const auto accepted_at = std::chrono::system_clock::now() + 10s;
  REQUIRE(journal->record_accepted(spec("old"), accepted_at).ok());
  REQUIRE(journal->record_finished(finished("old")).ok());
  CHECK(journal->horizon().unix_ms == created);
  CHECK_FALSE(journal->finished_over_budget());
  journal->forget("old");
  REQUIRE(journal->record_forgotten().ok());
  CHECK(journal->horizon().unix_ms == agent::unix_ms(accepted_at));
  CHECK_THAT(journal->horizon().reason, Catch::StartsWith("older records expired"));
  journal->forget("never-known");
  CHECK(journal->horizon().unix_ms == agent::unix_ms(accepted_at));

  journal.reset();
  journal = open_journal(tmp.path(), captured.log);
  CHECK(journal->horizon().unix_ms == agent::unix_ms(accepted_at));
  CHECK(journal->take_recovered().empty());
}

TEST_CASE("a state directory that cannot be made is an error naming it", "[journal]") {
  test::TemporaryDirectory tmp;
  CapturedLog captured;
  write_file(tmp.path() / "file", "x");
  const auto opened =
      ExecutionJournal::open(tmp.path() / "file" / "state", agent::default_journal_max_bytes, captured.log);
  REQUIRE_FALSE(opened.ok());
  CHECK(opened.error().message == "cannot create the state directory " + (tmp.path() / "file" / "state").string() +
                                      " (--state-dir, where the agent keeps its journal): Not a directory");
}

TEST_CASE("a journal that is not a journal at all is dropped, logged, and replaced", "[journal][damage]") {
  test::TemporaryDirectory tmp;
  CapturedLog captured;
  write_file(tmp.path() / "journal", std::string(3000, '\x17'));
  const auto reopened_at = now_unix_ms();
  auto journal = open_journal(tmp.path(), captured.log);
  CHECK(journal->take_recovered().empty());
  CHECK(journal->horizon().unix_ms >= reopened_at);
  CHECK(captured.lines_with("journal records dropped").size() == 1);
  run(*journal, "after");
  journal.reset();
  journal = open_journal(tmp.path(), captured.log);
  CHECK(journal->take_recovered().size() == 1);
  CHECK(captured.lines_with("journal records dropped").size() == 1);
}
