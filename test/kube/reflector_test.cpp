#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <vector>

#include "common/json.hpp"
#include "kube/json_stream_splitter.hpp"
#include "kube/reflector.hpp"

using namespace jarvis;
using namespace jarvis::kube;

namespace {

Object object(const std::string& ns, const std::string& name, const std::string& rv, const std::string& data = "") {
  std::string ns_field = ns.empty() ? "" : R"("namespace":")" + ns + R"(",)";
  auto doc = std::make_shared<rapidjson::Document>();
  std::string text = R"({"metadata":{)" + ns_field + R"("name":")" + name + R"(","resourceVersion":")" + rv +
                     R"("},"data":{"v":")" + data + R"("}})";
  doc->Parse(text.c_str());
  REQUIRE_FALSE(doc->HasParseError());
  return doc;
}

std::string event_json(const std::string& type, const std::string& ns, const std::string& name, const std::string& rv,
                       const std::string& data = "") {
  return R"({"type":")" + type + R"(","object":)" + serialize(*object(ns, name, rv, data)) + "}";
}

std::string bookmark_json(const std::string& rv) {
  return R"({"type":"BOOKMARK","object":{"kind":"ConfigMap","metadata":{"resourceVersion":")" + rv + R"("}}})";
}

const std::string kExpired =
    R"({"type":"ERROR","object":{"kind":"Status","status":"Failure","message":"too old resource version","reason":"Expired","code":410}})";

// Feeds a watch body through the splitter and the reflector as the informer does, returning changed keys.
struct Replay {
  Reflector& reflector;
  std::vector<std::string> changed;
  bool relist = false;

  void stream(const std::vector<std::string>& chunks) {
    JsonStreamSplitter splitter;
    for (const std::string& chunk : chunks) {
      REQUIRE(splitter.feed(chunk, [&](std::string_view text) {
        auto event = parse_watch_event(text);
        REQUIRE(event);
        auto after = reflector.on_event(*event, changed);
        REQUIRE(after);
        relist = *after == AfterEvent::relist;
        return !relist;
      }));
      if (relist) return;
    }
  }
};

std::string data_of(const ObjectStore& store, const std::string& key) {
  Object obj = store.get(key);
  REQUIRE(obj);
  return std::string(string_at(*obj, {"data", "v"}).value_or("?"));
}

}  // namespace

TEST_CASE("a list moves empty to listed and fills the store") {
  Reflector r;
  CHECK(r.phase() == ReflectorPhase::empty);
  auto changed = r.on_list({object("ns", "b", "3"), object("ns", "a", "2"), object("", "node-1", "4")}, "10");
  CHECK(changed == std::vector<std::string>{"node-1", "ns/a", "ns/b"});
  CHECK(r.phase() == ReflectorPhase::listed);
  CHECK(r.resource_version() == "10");
  CHECK(r.store().size() == 3);
  CHECK(r.store().get("node-1"));
  CHECK_FALSE(r.store().get("missing"));
  r.on_watch_started();
  CHECK(r.phase() == ReflectorPhase::watching);
}

TEST_CASE("watch events replayed from chunks update store and resourceVersion") {
  Reflector r;
  (void)r.on_list({object("ns", "a", "2", "one")}, "10");
  r.on_watch_started();
  Replay replay{r, {}, false};
  std::string body = event_json("MODIFIED", "ns", "a", "11", "two") + "\n" + event_json("ADDED", "ns", "b", "12", "b") +
                     "\n" + bookmark_json("15") + "\n" + event_json("DELETED", "ns", "a", "16", "two") + "\n";
  // Three chunks that cut events in the middle.
  replay.stream({body.substr(0, 50), body.substr(50, 120), body.substr(170)});
  CHECK(replay.changed == std::vector<std::string>{"ns/a", "ns/b", "ns/a"});
  CHECK(r.resource_version() == "16");
  CHECK_FALSE(r.store().get("ns/a"));
  CHECK(data_of(r.store(), "ns/b") == "b");
  CHECK(r.phase() == ReflectorPhase::watching);
}

TEST_CASE("a BOOKMARK advances the resourceVersion and changes nothing else") {
  Reflector r;
  (void)r.on_list({object("ns", "a", "2")}, "10");
  r.on_watch_started();
  Replay replay{r, {}, false};
  replay.stream({bookmark_json("99") + "\n"});
  CHECK(replay.changed.empty());
  CHECK(r.resource_version() == "99");
  CHECK(r.store().size() == 1);
}

TEST_CASE("an event repeating the stored resourceVersion is not applied twice") {
  Reflector r;
  (void)r.on_list({object("ns", "a", "2", "one")}, "10");
  r.on_watch_started();
  Replay replay{r, {}, false};
  replay.stream({event_json("MODIFIED", "ns", "a", "11", "two") + "\n" + event_json("MODIFIED", "ns", "a", "11", "two") +
                 "\n" + event_json("DELETED", "ns", "gone", "12") + "\n"});
  CHECK(replay.changed == std::vector<std::string>{"ns/a"});
  CHECK(r.resource_version() == "12");
}

TEST_CASE("a 410 ERROR event asks for a relist; the relist replaces the store and reports vanished keys") {
  Reflector r;
  (void)r.on_list({object("ns", "a", "2"), object("ns", "b", "3"), object("ns", "c", "4")}, "10");
  r.on_watch_started();
  Replay replay{r, {}, false};
  replay.stream({event_json("MODIFIED", "ns", "a", "11", "x") + "\n" + kExpired + "\n" +
                 event_json("ADDED", "ns", "never-applied", "13") + "\n"});
  CHECK(replay.relist);
  CHECK(replay.changed == std::vector<std::string>{"ns/a"});
  CHECK(r.phase() == ReflectorPhase::empty);
  CHECK_FALSE(r.store().get("ns/never-applied"));
  CHECK(r.store().size() == 3);  // readers keep the last known state until the relist lands

  auto changed = r.on_list({object("ns", "a", "11", "x"), object("ns", "d", "20")}, "30");
  CHECK(changed == std::vector<std::string>{"ns/a", "ns/b", "ns/c", "ns/d"});
  CHECK(r.store().size() == 2);
  CHECK_FALSE(r.store().get("ns/b"));
  CHECK(r.resource_version() == "30");
  CHECK(r.phase() == ReflectorPhase::listed);
}

TEST_CASE("a plain HTTP 410 to a watch request also empties the state machine") {
  Reflector r;
  (void)r.on_list({}, "10");
  r.on_watch_started();
  r.on_expired();
  CHECK(r.phase() == ReflectorPhase::empty);
  CHECK(r.resource_version().empty());
}

TEST_CASE("a dropped stream resumes from the last applied resourceVersion") {
  Reflector r;
  (void)r.on_list({}, "10");
  r.on_watch_started();
  Replay replay{r, {}, false};
  std::string second = event_json("ADDED", "ns", "b", "12");
  // The stream breaks in the middle of the second event: only the first one counts.
  replay.stream({event_json("ADDED", "ns", "a", "11") + "\n" + second.substr(0, 20)});
  r.on_stream_ended();
  CHECK(r.phase() == ReflectorPhase::listed);
  CHECK(r.resource_version() == "11");
  CHECK(r.store().size() == 1);
  // The resumed watch from 11 sends the second event again, whole, and it is applied once.
  r.on_watch_started();
  Replay resumed{r, {}, false};
  resumed.stream({second + "\n"});
  CHECK(resumed.changed == std::vector<std::string>{"ns/b"});
  CHECK(r.store().size() == 2);
}

TEST_CASE("other ERROR events and malformed events are errors that keep the state") {
  Reflector r;
  (void)r.on_list({}, "10");
  r.on_watch_started();
  std::vector<std::string> changed;
  auto internal = parse_watch_event(R"({"type":"ERROR","object":{"kind":"Status","reason":"InternalError","code":500}})");
  REQUIRE(internal);
  auto after = r.on_event(*internal, changed);
  REQUIRE_FALSE(after);
  CHECK_THAT(after.error().message, Catch::Contains("InternalError"));
  auto no_rv = parse_watch_event(R"({"type":"ADDED","object":{"metadata":{"name":"x"}}})");
  REQUIRE(no_rv);
  CHECK_FALSE(r.on_event(*no_rv, changed));
  CHECK(r.phase() == ReflectorPhase::watching);
  CHECK(r.resource_version() == "10");
  CHECK(changed.empty());
}

TEST_CASE("objects handed out stay valid after the store moves on") {
  Reflector r;
  (void)r.on_list({object("ns", "a", "2", "old")}, "10");
  Object held = r.store().get("ns/a");
  r.on_watch_started();
  Replay replay{r, {}, false};
  replay.stream({event_json("MODIFIED", "ns", "a", "11", "new") + "\n" + event_json("DELETED", "ns", "a", "12", "new") + "\n"});
  CHECK(string_at(*held, {"data", "v"}) == "old");
}
