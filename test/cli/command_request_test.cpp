#include <catch2/catch.hpp>

#include "cli/command_request.hpp"
#include "cli/run_flags.hpp"
#include "cli/shell_words.hpp"
#include "common/json.hpp"

using namespace jarvis;
using namespace jarvis::cli;

namespace {

RunOptions base() {
  RunOptions o;
  o.all = true;
  o.command = {"hostname"};
  return o;
}

rapidjson::Document body_of(const CommandRequest& r) {
  auto doc = parse_json(command_json(r), "body");
  REQUIRE(doc);
  return std::move(*doc);
}

}  // namespace

TEST_CASE("run flags become a Command: generateName, selector, timeout, fleet fields, ttl") {
  RunOptions o = base();
  o.all = false;
  o.selector = "zone in (a,b),!spot";
  o.timeout = "1m30s";
  o.max_concurrency = "25%";
  o.max_failures = "2";
  o.ttl = "1h";
  auto request = request_from_flags(o, "ops");
  REQUIRE(request);
  auto doc = body_of(*request);
  CHECK(string_at(doc, {"metadata", "generateName"}) == "run-");
  CHECK(string_at(doc, {"metadata", "namespace"}) == "ops");
  CHECK(string_at(doc, {"spec", "command"}) == "hostname");
  CHECK(int_at(doc, {"spec", "timeoutSeconds"}) == 90);
  CHECK(string_at(doc, {"spec", "maxConcurrency"}) == "25%");
  CHECK(int_at(doc, {"spec", "maxFailures"}) == 2);
  CHECK(int_at(doc, {"spec", "ttlSecondsAfterFinished"}) == 3600);
  CHECK(serialize(*value_at(doc, {"spec", "selector"})) ==
        R"({"nodeSelectorTerms":[{"matchExpressions":[{"key":"zone","operator":"In","values":["a","b"]},)"
        R"({"key":"spot","operator":"DoesNotExist"}]}]})");
}

TEST_CASE("--all has no selector, --keep no ttl, --name a fixed name") {
  RunOptions o = base();
  o.keep = true;
  o.name = "fixed";
  auto request = request_from_flags(o, "jarvis");
  REQUIRE(request);
  auto doc = body_of(*request);
  CHECK(string_at(doc, {"metadata", "name"}) == "fixed");
  CHECK(value_at(doc, {"metadata", "generateName"}) == nullptr);
  CHECK(value_at(doc, {"spec", "selector"}) == nullptr);
  CHECK(value_at(doc, {"spec", "ttlSecondsAfterFinished"}) == nullptr);
}

TEST_CASE("--node names each node in a term of its own (matchFields metadata.name In)") {
  RunOptions o = base();
  o.all = false;
  o.nodes = {"kind-worker", "kind-worker2"};
  auto request = request_from_flags(o, "jarvis");
  REQUIRE(request);
  auto doc = body_of(*request);
  CHECK(serialize(*value_at(doc, {"spec", "selector"})) ==
        R"({"nodeSelectorTerms":[{"matchFields":[{"key":"metadata.name","operator":"In","values":["kind-worker"]}]},)"
        R"({"matchFields":[{"key":"metadata.name","operator":"In","values":["kind-worker2"]}]}]})");
  std::vector<std::string> many(33, "n");
  CHECK_THAT(selector_for_nodes(many).error().message, Catch::Contains("at most 32"));
}

TEST_CASE("usage errors name the flag") {
  RunOptions o = base();
  SECTION("no node choice") {
    o.all = false;
    CHECK_THAT(request_from_flags(o, "ns").error().message, Catch::Contains("choose the nodes"));
  }
  SECTION("two node choices") {
    o.selector = "a=b";
    CHECK_THAT(request_from_flags(o, "ns").error().message, Catch::Contains("exclude each other"));
  }
  SECTION("bad selector") {
    o.all = false;
    o.selector = "a in (b";
    CHECK_THAT(request_from_flags(o, "ns").error().message, Catch::StartsWith("-l: label selector \"a in (b\""));
  }
  SECTION("bad timeout") {
    o.timeout = "soon";
    CHECK_THAT(request_from_flags(o, "ns").error().message, Catch::StartsWith("--timeout soon"));
  }
  SECTION("bad percentage") {
    o.max_failures = "120%";
    CHECK_THAT(request_from_flags(o, "ns").error().message, Catch::StartsWith("--max-failures \"120%\""));
  }
  SECTION("zero concurrency") {
    o.max_concurrency = "0";
    CHECK_THAT(request_from_flags(o, "ns").error().message, Catch::StartsWith("--max-concurrency 0"));
  }
  SECTION("no command") {
    o.command.clear();
    CHECK_THAT(request_from_flags(o, "ns").error().message, Catch::Contains("after --"));
  }
  CHECK_FALSE(parse_output_format("table"));
}

TEST_CASE("one word is a shell line; several are quoted as an argv") {
  CHECK(command_from_words({"df -h | tail -n 1"}) == "df -h | tail -n 1");
  CHECK(command_from_words({"sh", "-c", "exit 3"}) == "sh -c 'exit 3'");
  CHECK(command_from_words({"echo", "it's"}) == "echo 'it'\\''s'");
  CHECK(command_from_words({"echo", ""}) == "echo ''");
}

TEST_CASE("rerun keeps the spec and labels the new Command with the old name") {
  auto old = parse_json(R"({"metadata":{"name":"nightly","namespace":"ops"},
    "spec":{"command":"uptime","timeoutSeconds":42,"maxConcurrency":2,"maxFailures":"10%",
      "selector":{"nodeSelectorTerms":[{"matchExpressions":[{"key":"zone","operator":"NotIn","values":["c"]}]}]}}})",
                        "old");
  REQUIRE(old);
  CommandRequest r = rerun_request(*old);
  CHECK(r.ns == "ops");
  CHECK(r.name.empty());
  CHECK(r.generate_name == "nightly-rerun-");
  CHECK(r.command == "uptime");
  CHECK(r.timeout_seconds == 42);
  CHECK(r.labels.at("jarvis.io/rerun-of") == "nightly");
  REQUIRE(r.selector);
  REQUIRE(r.selector->terms.size() == 1);
  CHECK(r.selector->terms[0].match_expressions[0].op == controller::SelectorOperator::not_in);
  auto doc = body_of(r);
  CHECK(int_at(doc, {"spec", "maxConcurrency"}) == 2);
  CHECK(string_at(doc, {"spec", "maxFailures"}) == "10%");
}
