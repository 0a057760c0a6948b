// Parsing Command objects as the API server serves them, and the errors for what cannot be run.
#include <catch2/catch.hpp>

#include <rapidjson/document.h>

#include "controller/command_spec.hpp"

using namespace jarvis::controller;

namespace {

rapidjson::Document json(const char* text) {
  rapidjson::Document doc;
  doc.Parse(text);
  REQUIRE_FALSE(doc.HasParseError());
  return doc;
}

std::string with_spec(const std::string& spec) {
  return R"({"apiVersion":"jarvis.io/v1","kind":"Command","metadata":{"name":"c","namespace":"ns","uid":"u-1",)"
         R"("generation":1,"resourceVersion":"7"},"spec":)" +
         spec + "}";
}

std::string spec_error(const std::string& spec) {
  const auto doc = json(with_spec(spec).c_str());
  const auto parsed = parse_command_spec(doc);
  REQUIRE_FALSE(parsed.ok());
  return parsed.error().message;
}

}  // namespace

TEST_CASE("the seed's sample Command parses", "[command_spec]") {
  const auto doc = json(R"({
    "apiVersion": "jarvis.io/v1", "kind": "Command",
    "metadata": {"name": "command-sample", "namespace": "jarvis", "uid": "354e97c9-eb7a-4ccb-9c59-2d87666017d5",
                 "generation": 15, "resourceVersion": "140790", "finalizers": ["jarvis.io/finalizer"],
                 "creationTimestamp": "2025-10-27T01:36:11Z", "labels": {"app.kubernetes.io/name": "controller"}},
    "spec": {"command": "ps -eo pid,comm,%cpu,%mem --sort=-%cpu | head -n 10",
             "selector": {"nodeSelectorTerms": [{"matchExpressions": [
                 {"key": "kubernetes.io/os", "operator": "In", "values": ["linux"]}]}]}}
  })");
  const auto parsed = parse_command(doc);
  REQUIRE(parsed.ok());
  const auto& meta = parsed->meta;
  CHECK(meta.ns == "jarvis");
  CHECK(meta.name == "command-sample");
  CHECK(meta.uid == "354e97c9-eb7a-4ccb-9c59-2d87666017d5");
  CHECK(meta.generation == 15);
  CHECK(meta.resource_version == "140790");
  CHECK_FALSE(meta.being_deleted);
  CHECK(meta.has_finalizer("jarvis.io/finalizer"));
  CHECK_FALSE(meta.has_finalizer("other"));
  const auto& spec = parsed->spec;
  CHECK(spec.command == "ps -eo pid,comm,%cpu,%mem --sort=-%cpu | head -n 10");
  CHECK(spec.timeout_seconds == jarvis::limits::default_timeout_seconds);
  REQUIRE(spec.selector.terms.size() == 1);
  REQUIRE(spec.selector.terms[0].match_expressions.size() == 1);
  const auto& r = spec.selector.terms[0].match_expressions[0];
  CHECK(r.key == "kubernetes.io/os");
  CHECK(r.op == SelectorOperator::in);
  CHECK(r.values == std::vector<std::string>{"linux"});
  CHECK(spec.selector.terms[0].match_fields.empty());
}

TEST_CASE("all spec fields and metadata variants", "[command_spec]") {
  const auto doc = json(R"({"metadata":{"name":"c","namespace":"ns","uid":"u","generation":3,"resourceVersion":"9",
      "deletionTimestamp":"2026-01-01T00:00:00Z","finalizers":["a","jarvis.io/finalizer"]},
    "spec":{"command":"exit 3","timeoutSeconds":30,"selector":{"nodeSelectorTerms":[
      {"matchExpressions":[{"key":"zone","operator":"NotIn","values":["b"]},{"key":"gpu","operator":"DoesNotExist"}],
       "matchFields":[{"key":"metadata.name","operator":"In","values":["n1"]}]},
      {"matchExpressions":[{"key":"cores","operator":"Gt","values":["4"]}, {"key":"x","operator":"Exists","values":null}]},
      {}]}}})");
  const auto parsed = parse_command(doc);
  REQUIRE(parsed.ok());
  CHECK(parsed->meta.being_deleted);
  CHECK(parsed->meta.finalizers == std::vector<std::string>{"a", "jarvis.io/finalizer"});
  CHECK(parsed->spec.timeout_seconds == 30);
  const auto& terms = parsed->spec.selector.terms;
  REQUIRE(terms.size() == 3);
  CHECK(terms[0].match_expressions[0].op == SelectorOperator::not_in);
  CHECK(terms[0].match_expressions[1].op == SelectorOperator::does_not_exist);
  CHECK(terms[0].match_fields[0].key == "metadata.name");
  CHECK(terms[1].match_expressions[0].op == SelectorOperator::gt);
  CHECK(terms[1].match_expressions[1].op == SelectorOperator::exists);
  CHECK(terms[1].match_expressions[1].values.empty());
  CHECK(terms[2].match_expressions.empty());
  CHECK(terms[2].match_fields.empty());
}

TEST_CASE("absent, null and empty selectors select every node", "[command_spec]") {
  for (const char* spec : {R"({"command":"true"})", R"({"command":"true","selector":null})",
                           R"({"command":"true","selector":{}})",
                           R"({"command":"true","selector":{"nodeSelectorTerms":[]}})"}) {
    INFO(spec);
    const auto doc = json(with_spec(spec).c_str());
    const auto parsed = parse_command_spec(doc);
    REQUIRE(parsed.ok());
    CHECK(parsed->selector.terms.empty());
    CHECK(matches(parsed->selector, NodeInfo{"any", {}}));
  }
}

TEST_CASE("spec errors name the field", "[command_spec]") {
  const std::string term = R"({"command":"x","selector":{"nodeSelectorTerms":[{"matchExpressions":[)";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({})", "spec.command: required"},
      {R"({"command":""})", "spec.command: must not be empty"},
      {R"({"command":5})", "spec.command: must be a string"},
      {R"({"command":"x","timeoutSeconds":0})", "spec.timeoutSeconds: 0 is out of range (1..86400)"},
      {R"({"command":"x","timeoutSeconds":86401})", "spec.timeoutSeconds: 86401 is out of range (1..86400)"},
      {R"({"command":"x","timeoutSeconds":-1})", "spec.timeoutSeconds: -1 is out of range (1..86400)"},
      {R"({"command":"x","timeoutSeconds":1.5})", "spec.timeoutSeconds: must be an integer number of seconds"},
      {R"({"command":"x","timeoutSeconds":"30"})", "spec.timeoutSeconds: must be an integer number of seconds"},
      {R"({"command":"x","selector":[]})", "spec.selector: must be an object with nodeSelectorTerms"},
      {R"({"command":"x","selector":{"nodeSelectorTerms":{}}})", "spec.selector.nodeSelectorTerms: must be a list"},
      {R"({"command":"x","selector":{"nodeSelectorTerms":[1]}})",
       "spec.selector.nodeSelectorTerms[0]: must be an object with matchExpressions or matchFields"},
      {term + R"({"key":"a","operator":"In","values":["x"]},{"key":"b","operator":"Foo"}]}]}})",
       R"(spec.selector.nodeSelectorTerms[0].matchExpressions[1].operator: unsupported operator "Foo" (want In, NotIn, Exists, DoesNotExist, Gt, Lt))"},
      {term + R"({"key":"a","operator":"in","values":["x"]}]}]}})",
       R"(spec.selector.nodeSelectorTerms[0].matchExpressions[0].operator: unsupported operator "in" (want In, NotIn, Exists, DoesNotExist, Gt, Lt))"},
      {term + R"({"operator":"In","values":["x"]}]}]}})",
       "spec.selector.nodeSelectorTerms[0].matchExpressions[0].key: required"},
      {term + R"({"key":"a","values":["x"]}]}]}})",
       "spec.selector.nodeSelectorTerms[0].matchExpressions[0].operator: required"},
      {term + R"({"key":"a","operator":"In","values":"x"}]}]}})",
       "spec.selector.nodeSelectorTerms[0].matchExpressions[0].values: must be a list of strings"},
      {term + R"({"key":"a","operator":"In","values":["x",2]}]}]}})",
       "spec.selector.nodeSelectorTerms[0].matchExpressions[0].values[1]: must be a string"},
      {term + R"({"key":"a","operator":"In"}]}]}})",
       "spec.selector.nodeSelectorTerms[0].matchExpressions[0].values: In and NotIn need at least one value"},
      {term + R"({"key":"a","operator":"Gt","values":["x"]}]}]}})",
       "spec.selector.nodeSelectorTerms[0].matchExpressions[0].values[0]: \"x\" is not an integer (Gt and Lt "
       "compare integers)"},
      {R"({"command":"x","selector":{"nodeSelectorTerms":[{"matchFields":[{"key":"metadata.name","operator":"Exists"}]}]}})",
       "spec.selector.nodeSelectorTerms[0].matchFields[0].operator: unsupported operator \"Exists\" for matchFields "
       "(want In, NotIn)"},
  };
  for (const auto& [spec, message] : cases) {
    INFO(spec);
    CHECK(spec_error(spec) == message);
  }
  CHECK(spec_error(R"({"command":")" + std::string(64 * 1024 + 1, 'x') + R"("})") ==
        "spec.command: 65537 bytes is longer than the agent accepts (65536)");
}

TEST_CASE("missing spec and malformed metadata", "[command_spec]") {
  {
    const auto doc = json(R"({"metadata":{"name":"c","namespace":"ns","uid":"u"}})");
    CHECK(parse_command_meta(doc).ok());
    const auto spec = parse_command_spec(doc);
    REQUIRE_FALSE(spec.ok());
    CHECK(spec.error().message == "spec: required");
    const auto whole = parse_command(doc);
    REQUIRE_FALSE(whole.ok());
    CHECK(whole.error().message == "spec: required (Command ns/c)");
  }
  const std::vector<std::pair<const char*, const char*>> cases = {
      {R"([])", "command: not a JSON object"},
      {R"({})", "metadata: required"},
      {R"({"metadata":{"namespace":"ns","uid":"u"}})", "metadata.name: required"},
      {R"({"metadata":{"name":"c","uid":"u"}})", "metadata.namespace: required (Command c)"},
      {R"({"metadata":{"name":"c","namespace":"ns"}})", "metadata.uid: required (Command ns/c)"},
      {R"({"metadata":{"name":"c","namespace":"ns","uid":"u","generation":"1"}})",
       "metadata.generation: must be an integer (Command ns/c)"},
      {R"({"metadata":{"name":"c","namespace":"ns","uid":"u","finalizers":"a"}})",
       "metadata.finalizers: must be a list of strings (Command ns/c)"},
  };
  for (const auto& [text, message] : cases) {
    INFO(text);
    const auto doc = json(text);
    const auto meta = parse_command_meta(doc);
    REQUIRE_FALSE(meta.ok());
    CHECK(meta.error().message == message);
  }
}

TEST_CASE("rollout fields: counts or percentages, a TTL, each error naming its field", "[command_spec]") {
  const auto doc = json(with_spec(R"({"command":"x","maxConcurrency":"25%","maxFailures":0,"ttlSecondsAfterFinished":60})").c_str());
  const auto spec = parse_command_spec(doc);
  REQUIRE(spec.ok());
  CHECK(spec->max_concurrency == CountOrPercent{25, true});
  CHECK(spec->max_failures == CountOrPercent{0, false});
  CHECK(spec->ttl_seconds_after_finished == 60);
  const auto defaults = parse_command_spec(json(with_spec(R"({"command":"x"})").c_str()));
  CHECK_FALSE(defaults->max_concurrency);
  CHECK_FALSE(defaults->max_failures);
  CHECK_FALSE(defaults->ttl_seconds_after_finished);
  CHECK(spec_error(R"({"command":"x","maxConcurrency":0})") == "spec.maxConcurrency: 0 is less than 1");
  CHECK(spec_error(R"({"command":"x","maxFailures":-1})") == "spec.maxFailures: -1 is less than 0");
  for (const char* bad : {R"("150%")", R"("ten")", R"("5.5%")", R"("07%")", R"("%")", "1.5", "true"}) {
    INFO(bad);
    CHECK(spec_error(std::string(R"({"command":"x","maxConcurrency":)") + bad + "}").rfind(
              "spec.maxConcurrency: must be an integer >= 1 or a percentage from 0% to 100%", 0) == 0);
  }
  CHECK(spec_error(R"({"command":"x","ttlSecondsAfterFinished":-5})").rfind("spec.ttlSecondsAfterFinished:", 0) == 0);
  CHECK(spec_error(R"({"command":"x","ttlSecondsAfterFinished":3000000000})").rfind("spec.ttlSecondsAfterFinished:", 0) == 0);
}
