#include <catch2/catch.hpp>

#include "common/json.hpp"
#include "kube/object.hpp"

using namespace jarvis;
using namespace jarvis::kube;

TEST_CASE("values at paths") {
  auto doc = parse_json(R"({"metadata":{"name":"a","generation":3,"labels":{"x":"y"}},"spec":"s"})", "test");
  REQUIRE(doc);
  CHECK(string_at(*doc, {"metadata", "name"}) == "a");
  CHECK(int_at(*doc, {"metadata", "generation"}) == 3);
  CHECK_FALSE(string_at(*doc, {"metadata", "generation"}));
  CHECK_FALSE(int_at(*doc, {"metadata", "name"}));
  CHECK_FALSE(string_at(*doc, {"spec", "deeper"}));
  CHECK_FALSE(string_at(*doc, {"missing"}));
  CHECK(value_at(*doc, {"metadata", "labels"})->IsObject());
  CHECK(serialize(*value_at(*doc, {"metadata", "labels"})) == R"({"x":"y"})");
}

TEST_CASE("parse errors name what was parsed and where") {
  auto doc = parse_json("{\"a\":", "list /api/v1/nodes");
  REQUIRE_FALSE(doc);
  CHECK_THAT(doc.error().message, Catch::StartsWith("list /api/v1/nodes: invalid JSON at offset 5"));
}

TEST_CASE("object keys for namespaced and cluster-scoped objects") {
  auto namespaced = parse_json(R"({"metadata":{"namespace":"ns","name":"a","resourceVersion":"9"}})", "t");
  auto cluster = parse_json(R"({"metadata":{"name":"node-1"}})", "t");
  auto nameless = parse_json(R"({"metadata":{}})", "t");
  CHECK(object_key(*namespaced) == "ns/a");
  CHECK(resource_version(*namespaced) == "9");
  CHECK(object_key(*cluster) == "node-1");
  CHECK(resource_version(*cluster).empty());
  CHECK(object_key(*nameless).empty());
}
