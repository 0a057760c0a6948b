#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <chrono>
#include <fstream>

#include "kube/exec_credential.hpp"
#include "support/temporary_directory.hpp"

using namespace jarvis;
using namespace jarvis::kube;
using jarvis::test::TemporaryDirectory;
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

TEST_CASE("the token is cached until it expires: one plugin run per token lifetime; a 401 drops it") {
  int runs = 0;
  ExecTokenCache cache([&]() -> Result<ExecCredential> {
    ++runs;
    return ExecCredential{"token-" + std::to_string(runs), at(60 * runs)};
  });
  for (int s = 0; s < 60; s += 5) CHECK(*cache.token(at(s)) == "token-1");
  CHECK(runs == 1);
  CHECK(*cache.token(at(60)) == "token-2");  // expired at its timestamp
  CHECK(*cache.token(at(100)) == "token-2");
  CHECK(runs == 2);
  cache.invalidate();
  CHECK(*cache.token(at(101)) == "token-3");
  CHECK(cache.fetches() == 3);
}

TEST_CASE("a token without expiry is kept; a failing plugin is an error and is asked again next time") {
  int runs = 0;
  ExecTokenCache forever([&]() -> Result<ExecCredential> { return ExecCredential{"t" + std::to_string(++runs), {}}; });
  CHECK(*forever.token(at(0)) == "t1");
  CHECK(*forever.token(at(1'000'000)) == "t1");
  bool fail = true;
  ExecTokenCache flaky([&]() -> Result<ExecCredential> {
    if (fail) return Error{"plugin down"};
    return ExecCredential{"ok", {}};
  });
  CHECK(flaky.token(at(0)).error().message == "plugin down");
  fail = false;
  CHECK(*flaky.token(at(1)) == "ok");
}

TEST_CASE("the plugin runs with its args, its env and KUBERNETES_EXEC_INFO") {
  TemporaryDirectory dir;
  auto p = plugin(script(dir, "helper", R"(
printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"%s-%s"}}' "$1" "$REGION"
printf '%s' "$KUBERNETES_EXEC_INFO" > "$(dirname "$0")/info"
)"));
  p.args = {"arg1"};
  p.env = {{"REGION", "eu"}};
  auto cache = ExecTokenCache::for_plugin(p);
  auto token = cache.token(std::chrono::system_clock::now());
  REQUIRE(token);
  CHECK(*token == "arg1-eu");
  std::ifstream info(dir.path() / "info");
  std::string text((std::istreambuf_iterator<char>(info)), {});
  CHECK_THAT(text, Catch::Contains(R"("apiVersion":"client.authentication.k8s.io/v1")") &&
                       Catch::Contains(R"("interactive":false)"));
}

TEST_CASE("a plugin that fails, is missing or hangs is reported, with the install hint") {
  TemporaryDirectory dir;
  auto failing = plugin(script(dir, "failing", "echo 'login first' >&2\nexit 3\n"));
  CHECK_THAT(run_exec_plugin(failing, 10s).error().message, Catch::Contains("exited with status 3"));
  auto missing = plugin("no-such-jarvis-helper");
  missing.install_hint = "install no-such-jarvis-helper";
  CHECK_THAT(run_exec_plugin(missing, 10s).error().message,
             Catch::Contains("cannot run \"no-such-jarvis-helper\"") && Catch::Contains("(install no-such-jarvis-helper)"));
  auto hanging = plugin(script(dir, "hanging", "exec sleep 30\n"));
  auto started = std::chrono::steady_clock::now();
  CHECK_THAT(run_exec_plugin(hanging, 300ms).error().message, Catch::Contains("did not answer"));
  CHECK(std::chrono::steady_clock::now() - started < 10s);
}
