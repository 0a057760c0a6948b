#include <catch2/catch.hpp>

#include <cstdio>

#include "kube/bearer_token.hpp"
#include "support/temporary_directory.hpp"

using namespace jarvis;
using namespace jarvis::kube;
using jarvis::test::TemporaryDirectory;
using namespace std::chrono_literals;

namespace {
jarvis::Logger& quiet_log() {
  static jarvis::Logger log(jarvis::LogLevel::error, stderr);
  return log;
}
}  // namespace

TEST_CASE("a static token is sent as is") {
  BearerToken token("abc", "", quiet_log());
  CHECK(token.get(BearerToken::Clock::now()) == "abc");
  CHECK_FALSE(token.refresh_after_unauthorized());
}

TEST_CASE("a token file is re-read after a minute and right after a 401") {
  TemporaryDirectory dir;
  auto file = dir.write("token", "first\n");
  BearerToken token("", file, quiet_log());
  auto t0 = BearerToken::Clock::now();
  CHECK(token.get(t0) == "first");
  dir.write("token", "second");
  CHECK(token.get(t0 + 59s) == "first");
  CHECK(token.get(t0 + 60s) == "second");
  dir.write("token", "third");
  CHECK(token.get(t0 + 61s) == "second");
  CHECK(token.refresh_after_unauthorized());
  CHECK(token.get(t0 + 62s) == "third");
}

TEST_CASE("an unreadable token file keeps the last good token") {
  TemporaryDirectory dir;
  auto file = dir.write("token", "good");
  BearerToken token("", file, quiet_log());
  auto t0 = BearerToken::Clock::now();
  CHECK(token.get(t0) == "good");
  std::remove(file.c_str());
  CHECK(token.get(t0 + 2min) == "good");
}
