#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "kube/json_stream_splitter.hpp"

using jarvis::kube::JsonStreamSplitter;

namespace {

struct Collector {
  std::vector<std::string> objects;
  JsonStreamSplitter::OnObject callback() {
    return [this](std::string_view object) {
      objects.emplace_back(object);
      return true;
    };
  }
};

const std::string kAdded = R"({"type":"ADDED","object":{"metadata":{"name":"a","resourceVersion":"5"}}})";
const std::string kModified = R"({"type":"MODIFIED","object":{"metadata":{"name":"a","resourceVersion":"6"}}})";

}  // namespace

TEST_CASE("one event split across three chunks comes out once, whole") {
  JsonStreamSplitter splitter;
  Collector got;
  std::string line = kAdded + "\n";
  REQUIRE(splitter.feed(line.substr(0, 10), got.callback()));
  REQUIRE(splitter.feed(line.substr(10, 30), got.callback()));
  CHECK(got.objects.empty());
  CHECK(splitter.buffered() == 40);
  REQUIRE(splitter.feed(line.substr(40), got.callback()));
  REQUIRE(got.objects == std::vector<std::string>{kAdded});
  CHECK(splitter.buffered() == 0);
}

TEST_CASE("several events in one chunk come out in order") {
  JsonStreamSplitter splitter;
  Collector got;
  REQUIRE(splitter.feed(kAdded + "\n" + kModified + "\n" + kAdded + "\n", got.callback()));
  CHECK(got.objects == std::vector<std::string>{kAdded, kModified, kAdded});
}

TEST_CASE("a trailing partial event waits for the next chunk") {
  JsonStreamSplitter splitter;
  Collector got;
  std::string stream = kAdded + "\n" + kModified + "\n";
  REQUIRE(splitter.feed(stream.substr(0, kAdded.size() + 20), got.callback()));
  CHECK(got.objects == std::vector<std::string>{kAdded});
  CHECK(splitter.buffered() == 19);
  REQUIRE(splitter.feed(stream.substr(kAdded.size() + 20), got.callback()));
  CHECK(got.objects == std::vector<std::string>{kAdded, kModified});
}

TEST_CASE("every split point of a two-event stream gives the same events") {
  std::string stream = kAdded + "\n" + kModified + "\n";
  for (std::size_t first = 0; first <= stream.size(); ++first) {
    for (std::size_t second = first; second <= stream.size(); second += 7) {
      JsonStreamSplitter splitter;
      Collector got;
      REQUIRE(splitter.feed(stream.substr(0, first), got.callback()));
      REQUIRE(splitter.feed(stream.substr(first, second - first), got.callback()));
      REQUIRE(splitter.feed(stream.substr(second), got.callback()));
      REQUIRE(got.objects == std::vector<std::string>{kAdded, kModified});
    }
  }
}

TEST_CASE("braces and escaped quotes inside strings do not end an object") {
  const std::string tricky = R"({"type":"ADDED","object":{"data":{"k":"} { \" ] [ \\"}}})";
  JsonStreamSplitter splitter;
  Collector got;
  for (char c : tricky + "\n") REQUIRE(splitter.feed(std::string_view(&c, 1), got.callback()));
  CHECK(got.objects == std::vector<std::string>{tricky});
}

TEST_CASE("objects without newlines between them are still split") {
  JsonStreamSplitter splitter;
  Collector got;
  REQUIRE(splitter.feed(kAdded + kModified, got.callback()));
  CHECK(got.objects.size() == 2);
}

TEST_CASE("the callback can stop the splitting") {
  JsonStreamSplitter splitter;
  int calls = 0;
  REQUIRE(splitter.feed(kAdded + "\n" + kModified + "\n", [&](std::string_view) {
    ++calls;
    return false;
  }));
  CHECK(calls == 1);
}

TEST_CASE("a stream that is not JSON objects is an error") {
  JsonStreamSplitter splitter;
  Collector got;
  auto fed = splitter.feed("<html>proxy error</html>", got.callback());
  REQUIRE_FALSE(fed);
  CHECK_THAT(fed.error().message, Catch::Contains("expected '{'"));
}

TEST_CASE("an object larger than the limit is an error, not unbounded memory") {
  JsonStreamSplitter splitter(64);
  Collector got;
  REQUIRE(splitter.feed(R"({"a":")", got.callback()));
  auto fed = splitter.feed(std::string(100, 'x'), got.callback());
  REQUIRE_FALSE(fed);
  CHECK_THAT(fed.error().message, Catch::Contains("exceeds 64 bytes"));
}
