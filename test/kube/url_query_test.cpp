#include <catch2/catch.hpp>

#include "kube/url_query.hpp"

using namespace jarvis;
using namespace jarvis::kube;

TEST_CASE("percent-encoding keeps unreserved characters only") {
  CHECK(percent_encode("abcXYZ019-._~") == "abcXYZ019-._~");
  CHECK(percent_encode("kubernetes.io/service-name=jarvis-agent") == "kubernetes.io%2Fservice-name%3Djarvis-agent");
  CHECK(percent_encode("env in (a,b),!x") == "env%20in%20%28a%2Cb%29%2C%21x");
  CHECK(percent_encode("a+b&c#d?e%") == "a%2Bb%26c%23d%3Fe%25");
  CHECK(percent_encode("\xc3\xa9") == "%C3%A9");
}

TEST_CASE("query strings join encoded pairs and skip unset values") {
  QueryString q;
  CHECK(q.str().empty());
  q.add("limit", "500").add_if_set("continue", "").add_if_set("labelSelector", "app=x,tier!=db");
  CHECK(q.str() == "?limit=500&labelSelector=app%3Dx%2Ctier%21%3Ddb");
}
