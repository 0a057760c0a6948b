// The registry with real executions and a real journal: idempotent start, the concurrency bound, retention
// (which moves the journal's horizon), resumed starts, tombstones, shutdown.
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <catch2/catch.hpp>

#include "agent/execution_journal.hpp"
#include "agent/execution_proto.hpp"
#include "agent/execution_registry.hpp"
#include "support/run_until.hpp"
#include "support/temporary_directory.hpp"

using namespace std::chrono_literals;
using jarvis::agent::ExecutionEnvironment;
using jarvis::agent::ExecutionJournal;
using jarvis::agent::ExecutionRegistry;
using jarvis::agent::ExecutionSpec;
using jarvis::agent::ExecutionState;
using jarvis::agent::RegistryLimits;
using jarvis::agent::StartRefusal;
namespace test = jarvis::test;

namespace {

std::unique_ptr<ExecutionJournal> open_journal(const std::filesystem::path& state_dir, jarvis::Logger& log,
                                               std::uint64_t max_bytes = jarvis::agent::default_journal_max_bytes,
                                               jarvis::agent::DataSync sync = jarvis::agent::sync_file_data) {
  auto journal = ExecutionJournal::open(state_dir, max_bytes, log, std::move(sync));
  REQUIRE(journal.ok());
  return std::move(journal.value());
}

}  // namespace

namespace jarvis::test {

// Runs a registry call on `io` until it completes (at most 30 s).
template <typename T>
T complete(boost::asio::io_context& io, boost::asio::awaitable<T> call) {
  std::optional<T> result;
  boost::asio::co_spawn(
      io, [&, call = std::move(call)]() mutable -> boost::asio::awaitable<void> {
        result.emplace(co_await std::move(call));
      },
      [](std::exception_ptr failure) {
        if (failure) std::rethrow_exception(failure);
      });
  REQUIRE(run_until(io, [&] { return result.has_value(); }, 30s));
  return std::move(*result);
}

}  // namespace jarvis::test

namespace {

struct Harness {
  explicit Harness(RegistryLimits limits = {},
                   std::uint64_t journal_max_bytes = jarvis::agent::default_journal_max_bytes,
                   jarvis::agent::DataSync sync = jarvis::agent::sync_file_data)
      : limits(limits), journal_max_bytes(journal_max_bytes), sync(std::move(sync)) {
    open();
  }

  // What a new agent on the same state directory finds (every execution must have finished).
  void restart() {
    REQUIRE(registry->running() == 0);
    registry.reset();
    journal.reset();
    open();
  }

  void open() {
    journal = open_journal(state_dir.path(), log, journal_max_bytes, sync);
    registry.emplace(io.get_executor(),
                     ExecutionEnvironment{.host_root = "/", .node_name = "test-node", .kill_grace_period = 1s},
                     limits, *journal, log);
  }

  RegistryLimits limits;
  std::uint64_t journal_max_bytes;
  jarvis::agent::DataSync sync;
  test::TemporaryDirectory state_dir;
  boost::asio::io_context io;
  jarvis::Logger log{jarvis::LogLevel::info, stderr};
  std::unique_ptr<ExecutionJournal> journal;
  std::optional<ExecutionRegistry> registry;

  static ExecutionSpec spec(std::string id, std::string command) {
    ExecutionSpec spec;
    spec.id = std::move(id);
    spec.command = std::move(command);
    spec.timeout = 60s;
    return spec;
  }

  // A call as the gRPC service makes it, from a coroutine on the registry's executor.
  boost::asio::awaitable<jarvis::Result<ExecutionRegistry::Started>> start_async(
      ExecutionSpec spec, jarvis::agent::StartDispatch dispatch = {}) {
    auto started = co_await registry->start(std::move(spec), dispatch);
    co_return started;
  }
  boost::asio::awaitable<jarvis::Result<std::shared_ptr<jarvis::agent::Execution>>> cancel_async(std::string id) {
    auto canceled = co_await registry->cancel(std::move(id));
    co_return canceled;
  }
  // The same, driven to its end here.
  jarvis::Result<ExecutionRegistry::Started> start(ExecutionSpec spec, jarvis::agent::StartDispatch dispatch = {}) {
    return complete(start_async(std::move(spec), dispatch));
  }
  jarvis::Result<std::shared_ptr<jarvis::agent::Execution>> cancel(std::string id) {
    return complete(cancel_async(std::move(id)));
  }
  template <typename T>
  T complete(boost::asio::awaitable<T> call) {
    return jarvis::test::complete(io, std::move(call));
  }

  void run_until_idle() {
    REQUIRE(test::run_until(
        io, [&] { return registry->running() == 0 && registry->journal_writes_in_flight() == 0; }, 30s));
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

  auto first = h.start(Harness::spec("once", command));
  REQUIRE(first.ok());
  CHECK(first->created);
  auto while_running = h.start(Harness::spec("once", command));
  REQUIRE(while_running.ok());
  CHECK_FALSE(while_running->created);
  CHECK(while_running->execution == first->execution);

  h.run_until_idle();
  auto after_finish = h.start(Harness::spec("once", "echo something else >> '" + file.string() + "'"));
  REQUIRE(after_finish.ok());
  CHECK_FALSE(after_finish->created);
  CHECK(after_finish->execution->status().state == ExecutionState::succeeded);
  CHECK(after_finish->execution->status().command == command);
  h.run_until_idle();
  CHECK(count_lines(file) == 1);
}

TEST_CASE("beyond max_running new starts are refused until one finishes", "[registry]") {
  Harness h(RegistryLimits{.max_running = 2});
  REQUIRE(h.start(Harness::spec("a", "sleep 1000")).ok());
  REQUIRE(h.start(Harness::spec("b", "sleep 1000")).ok());
  CHECK(h.registry->running() == 2);

  auto refused = h.start(Harness::spec("c", "echo c"));
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == static_cast<int>(StartRefusal::too_many_running));
  CHECK(refused.error().message ==
        "node test-node is already running 2 executions, the most it runs at once (--max-concurrent); retry later");
  CHECK(h.registry->find("c") == nullptr);
  CHECK(h.start(Harness::spec("a", "sleep 1000")).ok());  // a known id is still answered

  h.registry->find("a")->cancel();
  REQUIRE(test::run_until(h.io, [&] { return h.registry->running() == 1; }, 10s));
  auto accepted = h.start(Harness::spec("c", "echo c"));
  REQUIRE(accepted.ok());
  CHECK(accepted->created);
  h.registry->find("b")->cancel();
  h.run_until_idle();
}

TEST_CASE("a start that fails is retained and does not count as running", "[registry]") {
  test::TemporaryDirectory tmp;
  test::TemporaryDirectory state_dir;
  boost::asio::io_context io;
  jarvis::Logger log{jarvis::LogLevel::info, stderr};
  auto journal = open_journal(state_dir.path(), log);
  ExecutionRegistry registry(
      io.get_executor(),
      ExecutionEnvironment{.host_root = tmp.path().string(), .node_name = "test-node", .kill_grace_period = 1s}, {},
      *journal, log);
  auto started = test::complete(io, registry.start(Harness::spec("no-shell", "echo hi")));
  REQUIRE(started.ok());
  CHECK(started->execution->status().state == ExecutionState::start_failed);
  CHECK(registry.running() == 0);
  CHECK(registry.retained_finished() == 1);
  CHECK(registry.find("no-shell") == started->execution);
}

TEST_CASE("finished results are retained up to a count, oldest forgotten first", "[registry][retention]") {
  Harness h(RegistryLimits{.max_retained_finished = 2});
  for (const auto* id : {"first", "second", "third"}) {
    REQUIRE(h.start(Harness::spec(id, "true")).ok());
    h.run_until_idle();
  }
  CHECK(h.registry->find("first") == nullptr);
  CHECK(h.registry->find("second") != nullptr);
  CHECK(h.registry->find("third") != nullptr);
  CHECK(h.registry->retained_finished() == 2);
}

TEST_CASE("finished results are forgotten after the retention time", "[registry][retention]") {
  Harness h(RegistryLimits{.retain_finished_for = 1s});
  REQUIRE(h.start(Harness::spec("short-lived", "true")).ok());
  h.run_until_idle();
  CHECK(h.registry->find("short-lived") != nullptr);
  CHECK(test::eventually([&] { return h.registry->find("short-lived") == nullptr; }, 5s));
}

TEST_CASE("shutdown cancels running executions and refuses new ones", "[registry][shutdown]") {
  Harness h;
  auto running = h.start(Harness::spec("running", "sleep 1000"));
  REQUIRE(running.ok());
  h.registry->begin_shutdown();
  auto refused = h.start(Harness::spec("late", "true"));
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == static_cast<int>(StartRefusal::shutting_down));
  h.run_until_idle();
  CHECK(running->execution->status().state == ExecutionState::canceled);
}

namespace {

std::int64_t now_unix_ms() { return jarvis::agent::unix_ms(std::chrono::system_clock::now()); }

jarvis::agent::StartDispatch resumed(std::int64_t dispatched_unix_ms) {
  return {.resume = true, .dispatched_unix_ms = dispatched_unix_ms};
}

}  // namespace

TEST_CASE("a resumed start runs an unknown id only when the journal covers its dispatch", "[registry][journal]") {
  Harness h;
  test::TemporaryDirectory tmp;
  const auto created = h.journal->horizon();
  CHECK(created.reason == "journal created");

  const auto before =
      h.start(Harness::spec("before", "echo ran >> '" + (tmp.path() / "before").string() + "'"),
                        resumed(created.unix_ms));
  REQUIRE_FALSE(before.ok());
  CHECK(before.error().code == static_cast<int>(StartRefusal::beyond_journal_horizon));
  CHECK_THAT(before.error().message,
             Catch::StartsWith("no record of execution before, and this agent's journal at " +
                               (h.state_dir.path() / "journal").string() + " only covers executions since ") &&
                 Catch::Contains("(journal created)") && Catch::EndsWith("it may have run before; not started again"));
  CHECK(h.registry->find("before") == nullptr);

  const auto after = h.start(Harness::spec("after", "echo ran >> '" + (tmp.path() / "after").string() + "'"),
                                       resumed(created.unix_ms + 1));
  REQUIRE(after.ok());
  CHECK(after->created);
  h.run_until_idle();
  const auto again = h.start(Harness::spec("after", "echo again"), resumed(created.unix_ms + 1));
  REQUIRE(again.ok());
  CHECK_FALSE(again->created);
  h.run_until_idle();
  CHECK(count_lines(tmp.path() / "after") == 1);
  CHECK_FALSE(std::filesystem::exists(tmp.path() / "before"));
}

TEST_CASE("evictions by count move the horizon; a new registry serves what is kept and refuses a resume of the rest",
          "[registry][retention][journal]") {
  Harness h(RegistryLimits{.max_retained_finished = 2});
  const auto before_first = now_unix_ms();
  std::vector<std::int64_t> accepted;
  for (const auto* id : {"first", "second", "third"}) {
    accepted.push_back(now_unix_ms());
    REQUIRE(h.start(Harness::spec(id, std::string("echo ") + id)).ok());
    h.run_until_idle();
  }
  REQUIRE(h.registry->find("first") == nullptr);
  const auto horizon = h.journal->horizon();
  CHECK(horizon.unix_ms >= accepted[0]);
  CHECK(horizon.unix_ms <= accepted[1]);
  CHECK_THAT(horizon.reason, Catch::StartsWith("older records expired"));

  h.restart();
  CHECK(h.journal->horizon().unix_ms == horizon.unix_ms);
  CHECK(h.registry->find("first") == nullptr);
  REQUIRE(h.registry->find("second") != nullptr);
  CHECK(h.registry->find("second")->status().output == "second\n");
  CHECK(h.registry->find("third")->status().state == ExecutionState::succeeded);
  const auto resumed_first = h.start(Harness::spec("first", "echo first"), resumed(before_first));
  REQUIRE_FALSE(resumed_first.ok());
  CHECK(resumed_first.error().code == static_cast<int>(StartRefusal::beyond_journal_horizon));
  CHECK_THAT(resumed_first.error().message, Catch::Contains("older records expired"));
}

TEST_CASE("evictions by age move the horizon", "[registry][retention][journal]") {
  Harness h(RegistryLimits{.retain_finished_for = 1s});
  const auto accepted = now_unix_ms();
  REQUIRE(h.start(Harness::spec("short-lived", "true")).ok());
  h.run_until_idle();
  REQUIRE(test::eventually([&] { return h.registry->find("short-lived") == nullptr; }, 10s));
  h.run_until_idle();  // the eviction's record written
  CHECK(h.journal->horizon().unix_ms >= accepted);
  h.restart();
  CHECK(h.registry->find("short-lived") == nullptr);
  CHECK(h.journal->horizon().unix_ms >= accepted);
}

TEST_CASE("finished results take at most half of the journal's bytes, oldest evicted first",
          "[registry][retention][journal]") {
  constexpr std::uint64_t journal_max_bytes = 64 * 1024;
  Harness h(RegistryLimits{}, journal_max_bytes);
  const auto before = h.journal->horizon().unix_ms;
  for (int i = 0; i < 8; ++i) {
    REQUIRE(h.start(Harness::spec("big-" + std::to_string(i), "head -c 12000 /dev/zero | tr '\\0' x")).ok());
    h.run_until_idle();
    CHECK(h.journal->file_bytes() <= journal_max_bytes + 13000);
  }
  CHECK(h.registry->retained_finished() == 2);
  CHECK(h.registry->find("big-5") == nullptr);
  CHECK(h.registry->find("big-6") != nullptr);
  CHECK(h.registry->find("big-7")->status().output.size() == 12000);
  CHECK(h.journal->horizon().unix_ms > before);

  h.restart();
  CHECK(h.registry->retained_finished() == 2);
  CHECK(h.registry->find("big-7")->status().output == std::string(12000, 'x'));
}

TEST_CASE("a cancel of an unknown id leaves a tombstone that no later start runs, across restarts",
          "[registry][journal]") {
  Harness h;
  test::TemporaryDirectory tmp;
  const auto marker = tmp.path() / "ran";
  const std::string command = "echo ran >> '" + marker.string() + "'";
  auto canceled = h.cancel("early");
  REQUIRE(canceled.ok());
  CHECK((*canceled)->status().state == ExecutionState::canceled);
  CHECK((*canceled)->status().reason == "canceled before it started");

  auto fresh = h.start(Harness::spec("early", command));
  REQUIRE(fresh.ok());
  CHECK_FALSE(fresh->created);
  CHECK(fresh->execution->status().state == ExecutionState::canceled);
  h.restart();
  auto resumed_start = h.start(Harness::spec("early", command), resumed(now_unix_ms()));
  REQUIRE(resumed_start.ok());
  CHECK_FALSE(resumed_start->created);
  CHECK(resumed_start->execution->status().reason == "canceled before it started");
  CHECK(resumed_start->execution->status().node_name == "test-node");
  h.run_until_idle();
  CHECK_FALSE(std::filesystem::exists(marker));
}

namespace {

// Until it goes away, regular files this process writes cannot grow beyond `bytes` (writes fail with EFBIG,
// "File too large"): a journal that cannot be written, as on a full disk, deterministically.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(std::uint64_t bytes) {
    REQUIRE(::getrlimit(RLIMIT_FSIZE, &saved_) == 0);
    previous_handler_ = std::signal(SIGXFSZ, SIG_IGN);
    const rlimit limited{.rlim_cur = bytes, .rlim_max = saved_.rlim_max};
    REQUIRE(::setrlimit(RLIMIT_FSIZE, &limited) == 0);
  }
  ~FileSizeLimit() {
    ::setrlimit(RLIMIT_FSIZE, &saved_);
    std::signal(SIGXFSZ, previous_handler_);
  }
  FileSizeLimit(const FileSizeLimit&) = delete;
  FileSizeLimit& operator=(const FileSizeLimit&) = delete;

 private:
  rlimit saved_{};
  void (*previous_handler_)(int) = nullptr;
};

}  // namespace

TEST_CASE("a journal that cannot be written refuses Start and tombstones: nothing runs, nothing is kept",
          "[registry][journal]") {
  Harness h;
  test::TemporaryDirectory tmp;
  const auto marker = tmp.path() / "ran";
  const std::string command = "echo ran >> '" + marker.string() + "'";
  const auto journal_path = (h.state_dir.path() / "journal").string();
  {
    // A few bytes of room: the record is partly written, then cut back off.
    FileSizeLimit limit(h.journal->file_bytes() + 10);
    const auto refused = h.start(Harness::spec("unrecorded", command));
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().code == static_cast<int>(StartRefusal::journal_unwritable));
    CHECK(refused.error().message == "cannot record execution unrecorded in the journal " + journal_path +
                                         ": File too large; the command was not started");
    CHECK(h.registry->find("unrecorded") == nullptr);
    const auto tombstone = h.cancel("not-yet");
    REQUIRE_FALSE(tombstone.ok());
    CHECK(tombstone.error().message == "cannot record the cancellation of execution not-yet in the journal " +
                                           journal_path + ": File too large; retry the Cancel");
    CHECK(h.registry->find("not-yet") == nullptr);
  }
  CHECK(std::filesystem::file_size(journal_path) == h.journal->file_bytes());
  h.run_until_idle();
  CHECK_FALSE(std::filesystem::exists(marker));

  const auto started = h.start(Harness::spec("unrecorded", command));
  REQUIRE(started.ok());
  CHECK(started->created);
  h.run_until_idle();
  CHECK(count_lines(marker) == 1);
  h.restart();
  CHECK(h.journal->horizon().reason == "journal created");  // nothing was dropped: the cut-off record left no trace
  CHECK(h.registry->find("unrecorded")->status().state == ExecutionState::succeeded);
}

namespace {

void rethrow(std::exception_ptr failure) {
  if (failure) std::rethrow_exception(failure);
}

// A journal sync that holds back the first sync of a record naming `id` (the file's bytes mention it) until
// release() or a safety limit, then syncs for real. Runs on whichever thread the journal syncs on.
class HeldSync {
 public:
  explicit HeldSync(std::string id) : id_(std::move(id)) {}

  jarvis::Status operator()(int fd) {
    if (!armed_.load() || !file_mentions_id(fd)) return jarvis::agent::sync_file_data(fd);
    armed_.store(false);
    {
      std::unique_lock lock(mutex_);
      holding_.store(true);
      released_cv_.wait_for(lock, safety_limit, [&] { return released_; });
      holding_.store(false);
    }
    return jarvis::agent::sync_file_data(fd);
  }

  bool holding() const { return holding_.load(); }
  void release() {
    std::lock_guard lock(mutex_);
    released_ = true;
    released_cv_.notify_all();
  }

 private:
  // Longer than any wait of the test below: only a test that failed reaches it.
  static constexpr std::chrono::seconds safety_limit{10};

  bool file_mentions_id(int fd) const {
    struct stat info{};
    if (::fstat(fd, &info) != 0) return false;
    std::string bytes(static_cast<std::size_t>(info.st_size), '\0');
    const ssize_t n = ::pread(fd, bytes.data(), bytes.size(), 0);
    return n > 0 && bytes.find(id_) != std::string::npos;
  }

  std::string id_;
  std::atomic<bool> armed_{true};
  std::atomic<bool> holding_{false};
  std::mutex mutex_;
  std::condition_variable released_cv_;
  bool released_ = false;
};

}  // namespace

TEST_CASE("a slow journal sync holds back only its own start: other calls are answered meanwhile, and its "
          "command is spawned only once the record is durable",
          "[registry][journal][slow-disk]") {
  auto held = std::make_shared<HeldSync>("slow-disk");
  Harness h({}, jarvis::agent::default_journal_max_bytes, [held](int fd) { return (*held)(fd); });
  test::TemporaryDirectory tmp;
  const auto spawned_marker = tmp.path() / "spawned";

  // An execution recorded and finished before the disk turns slow.
  REQUIRE(h.start(Harness::spec("recorded", "true")).ok());
  h.run_until_idle();

  bool slow_started = false;
  boost::asio::co_spawn(h.io, [&]() -> boost::asio::awaitable<void> {
    auto started = co_await h.start_async(Harness::spec("slow-disk", "touch '" + spawned_marker.string() + "'"));
    REQUIRE(started.ok());
    slow_started = true;
  }, rethrow);

  // While that start's record is held in its sync: a Start of the recorded id, a Wait and a Cancel of it, as
  // the gRPC service makes them on the same loop.
  bool answered = false;
  bool answered_while_held = false;
  bool spawned_while_held = true;
  boost::asio::co_spawn(h.io, [&]() -> boost::asio::awaitable<void> {
    // Once the sync is held (on a loop that blocks in it, this coroutine only runs after it, with nothing held).
    boost::asio::steady_timer tick(h.io);
    const auto give_up = std::chrono::steady_clock::now() + 20s;
    while (!held->holding() && std::chrono::steady_clock::now() < give_up) {
      tick.expires_after(1ms);
      co_await tick.async_wait(boost::asio::use_awaitable);
    }
    auto again = co_await h.start_async(Harness::spec("recorded", "true"));
    REQUIRE(again.ok());
    CHECK_FALSE(again->created);
    auto waited = h.registry->find("recorded");
    REQUIRE(waited != nullptr);
    co_await waited->wait_finished(std::chrono::steady_clock::now() + 1s);
    auto canceled = co_await h.cancel_async("recorded");
    REQUIRE(canceled.ok());
    CHECK((*canceled)->status().state == ExecutionState::succeeded);
    answered_while_held = held->holding();
    spawned_while_held = std::filesystem::exists(spawned_marker);
    answered = true;
  }, rethrow);

  REQUIRE(test::run_until(h.io, [&] { return answered; }, 30s));
  CHECK(answered_while_held);
  CHECK_FALSE(spawned_while_held);
  CHECK_FALSE(slow_started);

  held->release();
  REQUIRE(test::run_until(h.io, [&] { return slow_started && std::filesystem::exists(spawned_marker); }, 30s));
  h.run_until_idle();
}
