#include <catch2/catch.hpp>

#include "common/json.hpp"
#include "kube/response.hpp"
#include "kube/watch_event.hpp"

using namespace jarvis;
using namespace jarvis::kube;

TEST_CASE("an ADDED event carries its object") {
  auto event = parse_watch_event(
      R"({"type":"ADDED","object":{"kind":"ConfigMap","metadata":{"name":"a","namespace":"ns","resourceVersion":"7"}}})");
  REQUIRE(event);
  CHECK(event->type == WatchEventType::added);
  CHECK(object_key(*event->object) == "ns/a");
  CHECK(resource_version(*event->object) == "7");
}

TEST_CASE("a BOOKMARK carries only a resourceVersion") {
  auto event = parse_watch_event(
      R"({"type":"BOOKMARK","object":{"kind":"ConfigMap","metadata":{"resourceVersion":"12","annotations":{"k8s.io/initial-events-end":"true"}}}})");
  REQUIRE(event);
  CHECK(event->type == WatchEventType::bookmark);
  CHECK(resource_version(*event->object) == "12");
  CHECK(object_key(*event->object).empty());
}

TEST_CASE("an ERROR event with a 410 Expired Status is an expiry") {
  auto event = parse_watch_event(
      R"json({"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"too old resource version: 5 (100)","reason":"Expired","code":410}})json");
  REQUIRE(event);
  CHECK(event->type == WatchEventType::error);
  CHECK(is_expired_status(*event->object));
  CHECK(describe_status(*event->object) == "Expired: too old resource version: 5 (100)");
}

TEST_CASE("an ERROR event with the old Gone reason is an expiry too") {
  auto gone = parse_watch_event(R"({"type":"ERROR","object":{"kind":"Status","reason":"Gone","message":"x"}})");
  REQUIRE(gone);
  CHECK(is_expired_status(*gone->object));
  auto code_only = parse_watch_event(R"({"type":"ERROR","object":{"kind":"Status","code":410}})");
  REQUIRE(code_only);
  CHECK(is_expired_status(*code_only->object));
}

TEST_CASE("an ERROR event for another failure is not an expiry") {
  auto event = parse_watch_event(
      R"({"type":"ERROR","object":{"kind":"Status","reason":"InternalError","code":500,"message":"boom"}})");
  REQUIRE(event);
  CHECK_FALSE(is_expired_status(*event->object));
}

TEST_CASE("malformed events are errors that say what is wrong") {
  CHECK_THAT(parse_watch_event(R"({"type":"ADDED")").error().message, Catch::Contains("invalid JSON"));
  CHECK_THAT(parse_watch_event(R"({"object":{}})").error().message, Catch::Contains("no \"type\""));
  CHECK_THAT(parse_watch_event(R"({"type":"RENAMED","object":{}})").error().message, Catch::Contains("RENAMED"));
  CHECK_THAT(parse_watch_event(R"({"type":"ADDED"})").error().message, Catch::Contains("no \"object\""));
}

TEST_CASE("a plain HTTP 410 and a Status body with reason Expired are both expiries") {
  CHECK(is_expired(Response{410, "", ""}));
  CHECK(is_expired(Response{410, R"({"kind":"Status","reason":"Expired","code":410})", ""}));
  CHECK_FALSE(is_expired(Response{200, R"({"kind":"Status","reason":"Expired"})", ""}));
  CHECK_FALSE(is_expired(Response{404, R"({"kind":"Status","reason":"NotFound","code":404})", ""}));
}

TEST_CASE("describe_response quotes the Status message or the start of the body") {
  CHECK(describe_response(Response{404, R"({"kind":"Status","reason":"NotFound","message":"configmaps \"x\" not found","code":404})", ""}) ==
        "HTTP 404 NotFound: configmaps \"x\" not found");
  CHECK(describe_response(Response{502, "bad gateway", ""}) == "HTTP 502: bad gateway");
}
