#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <signal.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <optional>
#include <variant>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>

#include "common/coro.hpp"
#include "kube/exec_credential.hpp"
#include "support/run_until.hpp"
#include "support/temporary_directory.hpp"

using namespace jarvis;
using namespace jarvis::kube;
using jarvis::test::TemporaryDirectory;
namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

ExecPluginConfig plugin(std::string command) {
  ExecPluginConfig p;
  p.api_version = "client.authentication.k8s.io/v1";
  p.command = std::move(command);
  p.source = "kubeconfig /k: user \"u\".exec";
  return p;
}

std::string script(const TemporaryDirectory& dir, const std::string& name, const std::string& body) {
  auto path = dir.write(name, "#!/bin/sh\n" + body);
  chmod(path.c_str(), 0755);
  return path;
}

std::chrono::system_clock::time_point at(int seconds) {
  return std::chrono::system_clock::time_point(std::chrono::seconds(1'800'000'000 + seconds));
}

// Starts `task` on `io` and keeps its outcome (nullopt while it runs).
template <typename T>
std::shared_ptr<std::optional<T>> start(asio::io_context& io, asio::awaitable<T> task) {
  auto outcome = std::make_shared<std::optional<T>>();
  auto keep = [](asio::awaitable<T> task, std::shared_ptr<std::optional<T>> outcome) -> asio::awaitable<void> {
    *outcome = co_await std::move(task);
  };
  asio::co_spawn(io, keep(std::move(task), outcome), [](std::exception_ptr failure) { REQUIRE_FALSE(failure); });
  return outcome;
}

// Runs `task` on `io` to its end (at most `limit`).
template <typename T>
T run(asio::io_context& io, asio::awaitable<T> task, std::chrono::milliseconds limit = 10s) {
  auto outcome = start(io, std::move(task));
  REQUIRE(jarvis::test::run_until(io, [&] { return outcome->has_value(); }, limit));
  return std::move(**outcome);
}

// token(), given up after `patience`: the request's own deadline.
asio::awaitable<Result<std::string>> token_within(std::shared_ptr<ExecTokenCache> cache, Logger& log,
                                                  std::chrono::milliseconds patience) {
  using namespace asio::experimental::awaitable_operators;
  asio::steady_timer timer(co_await asio::this_coro::executor, patience);
  auto first = co_await (cache->token(log) || timer.async_wait(use_tuple));
  if (first.index() == 1) co_return Error{"gave up"};
  co_return std::get<0>(std::move(first));
}

// A stand-in for a slow plugin: each run waits until the test opens the gate, then answers the next token.
struct GatedPlugin {
  explicit GatedPlugin(asio::io_context& io) : io(io) {}
  asio::awaitable<Result<ExecCredential>> fetch() {
    ++started;
    while (!open) {
      asio::steady_timer wait(io, 5ms);
      auto [ec] = co_await wait.async_wait(use_tuple);
      if (ec) co_return Error{"plugin killed"};
    }
    if (!answers.empty()) {
      auto answer = answers.front();
      answers.erase(answers.begin());
      co_return answer;
    }
    co_return Error{"no answer prepared"};
  }
  asio::io_context& io;
  bool open = true;
  int started = 0;
  std::vector<Result<ExecCredential>> answers;
};

std::shared_ptr<ExecTokenCache> cache_over(GatedPlugin& plugin, const std::chrono::system_clock::time_point& now) {
  return std::make_shared<ExecTokenCache>([&plugin] { return plugin.fetch(); }, [&now] { return now; });
}

}  // namespace

TEST_CASE("an ExecCredential's token and expiry are read; wrong answers are named") {
  auto p = plugin("helper");
  auto ok = parse_exec_credential(R"({"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential",
      "status":{"token":"abc","expirationTimestamp":"2027-01-15T08:00:00Z"}})", p);
  REQUIRE(ok);
  CHECK(ok->token == "abc");
  REQUIRE(ok->expires);
  auto forever = parse_exec_credential(R"({"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential",
      "status":{"token":"abc"}})", p);
  REQUIRE(forever);
  CHECK_FALSE(forever->expires);
  CHECK_THAT(parse_exec_credential(R"({"apiVersion":"client.authentication.k8s.io/v1beta1","kind":"ExecCredential",
      "status":{"token":"abc"}})", p).error().message, Catch::Contains("apiVersion client.authentication.k8s.io/v1beta1 differs"));
  CHECK_THAT(parse_exec_credential(R"({"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential",
      "status":{}})", p).error().message, Catch::Contains("status.token is missing"));
  CHECK_THAT(parse_exec_credential(R"({"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential",
      "status":{"token":"a","expirationTimestamp":"tomorrow"}})", p).error().message, Catch::Contains("not RFC 3339"));
  CHECK_THAT(parse_exec_credential("not json", p).error().message, Catch::StartsWith("kubeconfig /k: user \"u\".exec"));
}

TEST_CASE("a valid token is reused; past half its lifetime one background run replaces it; a 401 drops it") {
  asio::io_context io;
  Logger log(LogLevel::error, stderr);
  GatedPlugin plugin(io);
  auto now = at(0);
  auto cache = cache_over(plugin, now);
  plugin.answers = {ExecCredential{"t1", at(100)}, ExecCredential{"t2", at(300)}, ExecCredential{"t3", {}}};
  CHECK(*run(io, cache->token(log)) == "t1");
  now = at(49);
  CHECK(*run(io, cache->token(log)) == "t1");
  CHECK(cache->fetches() == 1);
  CHECK_FALSE(cache->running());
  // Half the lifetime gone: the request goes on with t1 at once, a run starts beside it.
  plugin.open = false;
  now = at(50);
  CHECK(*run(io, cache->token(log)) == "t1");
  CHECK(cache->running());
  CHECK(cache->fetches() == 2);
  now = at(99);
  CHECK(*run(io, cache->token(log)) == "t1");  // still valid, and no second run
  CHECK(cache->fetches() == 2);
  plugin.open = true;
  REQUIRE(jarvis::test::run_until(io, [&] { return !cache->running(); }, 5s));
  CHECK(*run(io, cache->token(log)) == "t2");
  cache->invalidate();
  CHECK(*run(io, cache->token(log)) == "t3");
  now = at(1'000'000);
  CHECK(*run(io, cache->token(log)) == "t3");  // no expiry: kept, never refreshed
  CHECK(cache->fetches() == 3);
  CHECK(plugin.started == 3);
}

TEST_CASE("concurrent requests without a valid token wait for the one run in flight") {
  asio::io_context io;
  Logger log(LogLevel::error, stderr);
  GatedPlugin plugin(io);
  auto now = at(0);
  auto cache = cache_over(plugin, now);
  plugin.answers = {ExecCredential{"t1", at(100)}, ExecCredential{"t2", at(300)}};
  plugin.open = false;
  std::vector<std::shared_ptr<std::optional<Result<std::string>>>> requests;
  for (int i = 0; i < 3; ++i) requests.push_back(start(io, cache->token(log)));
  jarvis::test::run_until(io, [] { return false; }, 100ms);
  CHECK(plugin.started == 1);
  for (const auto& r : requests) CHECK_FALSE(r->has_value());
  plugin.open = true;
  REQUIRE(jarvis::test::run_until(io, [&] { return requests[2]->has_value(); }, 5s));
  for (const auto& r : requests) CHECK(***r == "t1");
  CHECK(cache->fetches() == 1);
  // Expired while a background run is in flight: requests wait for that run, they do not start another.
  plugin.open = false;
  now = at(60);
  CHECK(*run(io, cache->token(log)) == "t1");
  now = at(100);
  auto late = start(io, cache->token(log));
  jarvis::test::run_until(io, [] { return false; }, 50ms);
  CHECK_FALSE(late->has_value());
  plugin.open = true;
  REQUIRE(jarvis::test::run_until(io, [&] { return late->has_value(); }, 5s));
  CHECK(***late == "t2");
  CHECK(plugin.started == 2);
}

TEST_CASE("a request that gives up waiting leaves the run to the others") {
  asio::io_context io;
  Logger log(LogLevel::error, stderr);
  GatedPlugin plugin(io);
  auto now = at(0);
  auto cache = cache_over(plugin, now);
  plugin.answers = {ExecCredential{"t1", at(100)}};
  plugin.open = false;
  auto impatient = run(io, token_within(cache, log, 50ms));
  CHECK(impatient.error().message == "gave up");
  plugin.open = true;
  CHECK(*run(io, cache->token(log)) == "t1");
  CHECK(plugin.started == 1);  // the same run answered
}

TEST_CASE("a failing plugin is an error and is asked again next time; a failed background run keeps the token") {
  asio::io_context io;
  Logger log(LogLevel::error, stderr);
  GatedPlugin plugin(io);
  auto now = at(0);
  auto cache = cache_over(plugin, now);
  plugin.answers = {Error{"plugin down"}, ExecCredential{"ok", at(100)}, Error{"plugin down again"},
                    Error{"still down"}};
  CHECK(run(io, cache->token(log)).error().message == "plugin down");
  CHECK(*run(io, cache->token(log)) == "ok");
  now = at(60);
  CHECK(*run(io, cache->token(log)) == "ok");  // starts the background run, which fails
  REQUIRE(jarvis::test::run_until(io, [&] { return !cache->running(); }, 5s));
  now = at(70);
  CHECK(*run(io, cache->token(log)) == "ok");  // kept until it expires, not re-run on every request
  CHECK(plugin.started == 3);
  now = at(100);
  CHECK(run(io, cache->token(log)).error().message == "still down");
}

TEST_CASE("the plugin runs with its args, its env and KUBERNETES_EXEC_INFO") {
  asio::io_context io;
  Logger log(LogLevel::error, stderr);
  TemporaryDirectory dir;
  auto p = plugin(script(dir, "helper", R"(
printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"%s-%s"}}' "$1" "$REGION"
printf '%s' "$KUBERNETES_EXEC_INFO" > "$(dirname "$0")/info"
)"));
  p.args = {"arg1"};
  p.env = {{"REGION", "eu"}};
  auto cache = ExecTokenCache::for_plugin(p);
  auto token = run(io, cache->token(log));
  REQUIRE(token);
  CHECK(*token == "arg1-eu");
  std::ifstream info(dir.path() / "info");
  std::string text((std::istreambuf_iterator<char>(info)), {});
  CHECK_THAT(text, Catch::Contains(R"("apiVersion":"client.authentication.k8s.io/v1")") &&
                       Catch::Contains(R"("interactive":false)"));
}

TEST_CASE("a plugin that fails, is missing or hangs is reported, with the install hint") {
  asio::io_context io;
  TemporaryDirectory dir;
  auto failing = plugin(script(dir, "failing", "echo 'login first' >&2\nexit 3\n"));
  CHECK_THAT(run(io, run_exec_plugin(failing, 10s)).error().message, Catch::Contains("exited with status 3"));
  auto missing = plugin("no-such-jarvis-helper");
  missing.install_hint = "install no-such-jarvis-helper";
  CHECK_THAT(run(io, run_exec_plugin(missing, 10s)).error().message,
             Catch::Contains("cannot run \"no-such-jarvis-helper\"") && Catch::Contains("(install no-such-jarvis-helper)"));
  auto hanging = plugin(script(dir, "hanging", "exec sleep 30\n"));
  auto started = std::chrono::steady_clock::now();
  CHECK_THAT(run(io, run_exec_plugin(hanging, 300ms)).error().message, Catch::Contains("did not answer"));
  CHECK(std::chrono::steady_clock::now() - started < 10s);
  // Its output closed, still running (a child of its own keeps nothing open): the deadline still holds.
  auto mute = plugin(script(dir, "mute", "exec >&-\nexec sleep 30\n"));
  started = std::chrono::steady_clock::now();
  CHECK_THAT(run(io, run_exec_plugin(mute, 300ms)).error().message, Catch::Contains("did not answer"));
  CHECK(std::chrono::steady_clock::now() - started < 10s);
}

TEST_CASE("the plugin runs off the event loop: timers keep firing while it works") {
  asio::io_context io;
  TemporaryDirectory dir;
  auto slow = plugin(script(dir, "slow", R"(sleep 1
printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"late"}}'
)"));
  int ticks = 0;
  bool ticking = true;
  asio::co_spawn(io, [&]() -> asio::awaitable<void> {
    while (ticking) {
      const bool slept = co_await sleep_for(20ms);
      if (!slept) co_return;
      ++ticks;
    }
  }, [](std::exception_ptr failure) { REQUIRE_FALSE(failure); });
  auto output = start(io, run_exec_plugin(slow, 10s));
  REQUIRE(jarvis::test::run_until(io, [&] { return output->has_value(); }, 10s));
  ticking = false;
  REQUIRE(**output);
  CHECK_THAT(***output, Catch::Contains("late"));
  CHECK(ticks >= 10);  // about 50 in the second the plugin slept; none when it blocks the loop
  jarvis::test::run_until(io, [] { return false; }, 50ms);
}

TEST_CASE("a cancelled run kills and reaps its plugin at once") {
  asio::io_context io;
  TemporaryDirectory dir;
  auto stuck = plugin(script(dir, "stuck", "echo $$ > \"$(dirname \"$0\")/pid\"\nexec sleep 30\n"));
  auto within = [&]() -> asio::awaitable<bool> {
    using namespace asio::experimental::awaitable_operators;
    asio::steady_timer timer(co_await asio::this_coro::executor, 300ms);
    auto first = co_await (run_exec_plugin(stuck, 5s) || timer.async_wait(use_tuple));
    co_return first.index() == 1;
  };
  const auto started = std::chrono::steady_clock::now();
  CHECK(run(io, within()));
  CHECK(std::chrono::steady_clock::now() - started < 2s);
  std::ifstream pid_file(dir.path() / "pid");
  pid_t pid = 0;
  pid_file >> pid;
  REQUIRE(pid > 0);
  CHECK(::kill(pid, 0) == -1);  // gone, and reaped: not even a zombie
}
