// The kube client against a real kube-apiserver. Not part of `meson test`: test/e2e/test_kube_client.py
// starts the local control plane and runs this binary with
//   JARVIS_TEST_KUBECONFIG        admin kubeconfig (client certificate)        required
//   JARVIS_TEST_TOKEN_KUBECONFIG  a kubeconfig with a bearer token              [auth]
//   JARVIS_TEST_TOKEN_USER        the user name that token belongs to           [auth]
//   JARVIS_TEST_SIGNAL_DIR        hand-shake files with the wrapper             [restart]
// A 410 cannot be had on demand from a running API server (whether an old resourceVersion is still served
// depends on its watch cache's history), so the [restart] test makes one certain: history is compacted while
// the server is down.
#include <catch2/catch.hpp>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/beast/http/verb.hpp>

#include <chrono>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "kube/client.hpp"
#include "kube/cluster_config.hpp"
#include "kube/informer.hpp"
#include "common/json.hpp"
#include "kube/url_query.hpp"

using namespace jarvis;
using namespace jarvis::kube;
using namespace std::chrono_literals;
namespace asio = boost::asio;
namespace http = boost::beast::http;
using Clock = std::chrono::steady_clock;

namespace {

std::string env(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? std::string{} : std::string(value);
}

std::string required_env(const char* name) {
  std::string value = env(name);
  if (value.empty()) FAIL(name << " is not set: run this through test/e2e/test_kube_client.py");
  return value;
}

std::string random_suffix() {
  static std::mt19937_64 random{std::random_device{}()};
  static constexpr char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::string s;
  for (int i = 0; i < 6; ++i) s.push_back(alphabet[random() % 36]);
  return s;
}

// One client on one io_context; every step runs the io_context (and so every informer) until it is done.
class Harness {
 public:
  explicit Harness(const std::string& kubeconfig_env = "JARVIS_TEST_KUBECONFIG", ClientOptions options = {})
      : log_(jarvis::LogLevel::info, stderr), config_(load(required_env(kubeconfig_env.c_str()))),
        client_(io_.get_executor(), config_, options, log_) {}

  static ClusterConfig load(const std::string& path) {
    auto config = load_kubeconfig(path);
    if (!config) FAIL(config.error().message);
    return *config;
  }

  asio::io_context& io() { return io_; }
  Client& client() { return client_; }
  jarvis::Logger& log() { return log_; }

  // Runs `work` to completion within `limit`.
  template <typename T>
  T run(asio::awaitable<T> work, Clock::duration limit = 60s) {
    std::optional<T> result;
    std::exception_ptr failure;
    bool done = false;
    auto body = [&]() -> asio::awaitable<void> { result.emplace(co_await std::move(work)); };
    asio::co_spawn(io_, body(), [&](std::exception_ptr e) {
      failure = e;
      done = true;
    });
    auto deadline = Clock::now() + limit;
    while (!done && Clock::now() < deadline) run_one_for(100ms);
    if (!done) FAIL("step did not finish within the time limit");
    if (failure) std::rethrow_exception(failure);
    return std::move(*result);
  }

  // Runs the io_context until `condition` holds; false after `limit`.
  bool wait_for(const std::function<bool()>& condition, Clock::duration limit = 30s) {
    auto deadline = Clock::now() + limit;
    while (!condition()) {
      if (Clock::now() >= deadline) return false;
      run_one_for(50ms);
    }
    return true;
  }

  // An io_context that ran out of work stays stopped until restarted.
  void run_one_for(Clock::duration d) {
    if (io_.stopped()) io_.restart();
    io_.run_one_for(d);
  }

  Response call(http::verb method, const std::string& target, std::string body = {},
                std::string content_type = "application/json") {
    auto answer = run(client_.request(method, target, std::move(body), std::move(content_type)));
    if (!answer) FAIL(answer.error().message);
    return std::move(*answer);
  }

  std::string create_namespace() {
    std::string name = "kube-it-" + random_suffix();
    Response r = call(http::verb::post, "/api/v1/namespaces",
                      R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":")" + name + R"("}})");
    REQUIRE(r.status == 201);
    return name;
  }

  // Creates a ConfigMap; returns its resourceVersion.
  std::string create_config_map(const std::string& ns, const std::string& name, const std::string& value,
                                const std::string& labels = "{}") {
    Response r = call(http::verb::post, "/api/v1/namespaces/" + ns + "/configmaps",
                      R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":")" + name + R"(","labels":)" +
                          labels + R"(},"data":{"v":")" + value + R"("}})");
    INFO(r.body);
    REQUIRE(r.status == 201);
    return resource_version_of(r);
  }

  std::string patch_config_map(const std::string& ns, const std::string& name, const std::string& value) {
    Response r = call(http::verb::patch, "/api/v1/namespaces/" + ns + "/configmaps/" + name,
                      R"({"data":{"v":")" + value + R"("}})", "application/merge-patch+json");
    INFO(r.body);
    REQUIRE(r.status == 200);
    return resource_version_of(r);
  }

  void delete_config_map(const std::string& ns, const std::string& name) {
    Response r = call(http::verb::delete_, "/api/v1/namespaces/" + ns + "/configmaps/" + name);
    INFO(r.body);
    REQUIRE(r.status == 200);
  }

  static std::string resource_version_of(const Response& r) {
    auto doc = parse_json(r.body, "response");
    REQUIRE(doc);
    return std::string(string_at(*doc, {"metadata", "resourceVersion"}).value_or(""));
  }

  // key → resourceVersion of a fresh list, the truth an informer's store must converge to.
  std::map<std::string, std::string> list_versions(const std::string& path) {
    Response r = call(http::verb::get, path);
    REQUIRE(r.status == 200);
    auto doc = parse_json(r.body, "list");
    REQUIRE(doc);
    std::map<std::string, std::string> versions;
    for (const auto& item : (*doc)["items"].GetArray()) versions[object_key(item)] = std::string(resource_version(item));
    return versions;
  }

 private:
  asio::io_context io_;
  jarvis::Logger log_;
  ClusterConfig config_;
  Client client_;
};

std::map<std::string, std::string> store_versions(const ObjectStore& store) {
  std::map<std::string, std::string> versions;
  for (const Object& obj : store.list()) versions[object_key(*obj)] = std::string(resource_version(*obj));
  return versions;
}

std::string stored_version(const ObjectStore& store, const std::string& key) {
  Object obj = store.get(key);
  return obj ? std::string(resource_version(*obj)) : std::string{};
}

// An informer running on the harness's io_context, cancelled and awaited on destruction.
class RunningInformer {
 public:
  RunningInformer(Harness& h, ResourceRef ref, InformerOptions options = {})
      : h_(h), informer_(h.client(), std::move(ref), h.log(), options) {
    informer_.on_change([this](const std::string& key) {
      notifications.push_back({key, stored_version(informer_.store(), key), informer_.stats().lists});
    });
    asio::co_spawn(h_.io(), informer_.run(), asio::bind_cancellation_slot(stop_.slot(), [this](std::exception_ptr e) {
                     failure_ = e;
                     done_ = true;
                   }));
  }
  ~RunningInformer() {
    stop_.emit(asio::cancellation_type::terminal);
    h_.wait_for([this] { return done_; }, 10s);
  }

  // Stops it and checks it ended by itself, without an exception.
  void stop_and_check() {
    stop_.emit(asio::cancellation_type::terminal);
    REQUIRE(h_.wait_for([this] { return done_; }, 10s));
    REQUIRE_FALSE(failure_);
  }

  Informer& operator*() { return informer_; }
  Informer* operator->() { return &informer_; }

  struct Notification {
    std::string key;
    std::string resource_version;  // "" once deleted
    std::uint64_t lists;           // lists done when it fired: tells notifications of a relist apart
  };
  std::vector<Notification> notifications;

  // No watch event applied twice: outside of relists, a key is never notified twice for one version.
  void check_no_repeated_watch_notifications() const {
    std::map<std::string, std::string> last;
    std::uint64_t lists = 0;
    for (const auto& n : notifications) {
      if (n.lists != lists) {
        lists = n.lists;
        last.clear();  // a relist notifies every key once more: that is a resync, not a repeated event
      }
      auto it = last.find(n.key);
      INFO("key " << n.key << " version " << n.resource_version);
      if (it != last.end()) CHECK(it->second != n.resource_version);
      last[n.key] = n.resource_version;
    }
  }

 private:
  Harness& h_;
  Informer informer_;
  asio::cancellation_signal stop_;
  bool done_ = false;
  std::exception_ptr failure_;
};

ResourceRef config_maps(const std::string& ns) {
  ResourceRef ref;
  ref.list_path = "/api/v1/namespaces/" + ns + "/configmaps";
  return ref;
}

std::string self_subject_user(Harness& h) {
  Response r = h.call(http::verb::post, "/apis/authentication.k8s.io/v1/selfsubjectreviews",
                      R"({"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"})");
  INFO(r.body);
  REQUIRE(r.status == 201);
  auto doc = parse_json(r.body, "review");
  REQUIRE(doc);
  return std::string(string_at(*doc, {"status", "userInfo", "username"}).value_or(""));
}

}  // namespace

TEST_CASE("a kubeconfig with a client certificate authenticates", "[auth]") {
  Harness h;
  CHECK_FALSE(self_subject_user(h).empty());
  CHECK(h.call(http::verb::get, "/readyz").status == 200);
}

TEST_CASE("a kubeconfig with a bearer token authenticates; a wrong token is a 401 value", "[auth]") {
  Harness h("JARVIS_TEST_TOKEN_KUBECONFIG");
  CHECK(self_subject_user(h) == required_env("JARVIS_TEST_TOKEN_USER"));

  ClusterConfig wrong = Harness::load(required_env("JARVIS_TEST_TOKEN_KUBECONFIG"));
  wrong.token = "not-the-token";
  Client client(h.io().get_executor(), wrong, {}, h.log());
  auto answer = h.run(client.request(http::verb::get, "/api/v1/namespaces"));
  REQUIRE(answer);
  CHECK(answer->status == 401);
}

TEST_CASE("404, 409 and 422 come back as values", "[values]") {
  Harness h;
  std::string ns = h.create_namespace();
  Response missing = h.call(http::verb::get, "/api/v1/namespaces/" + ns + "/configmaps/nope");
  CHECK(missing.status == 404);
  CHECK(describe_response(missing) == "HTTP 404 NotFound: configmaps \"nope\" not found");

  std::string rv = h.create_config_map(ns, "once", "1");
  std::string again = R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"once"}})";
  Response exists = h.call(http::verb::post, "/api/v1/namespaces/" + ns + "/configmaps", again);
  CHECK(exists.status == 409);
  CHECK_THAT(describe_response(exists), Catch::Contains("AlreadyExists"));

  h.patch_config_map(ns, "once", "2");
  std::string stale = R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"once","resourceVersion":")" + rv +
                      R"("},"data":{"v":"3"}})";
  Response conflict = h.call(http::verb::put, "/api/v1/namespaces/" + ns + "/configmaps/once", stale);
  CHECK(conflict.status == 409);
  CHECK_THAT(describe_response(conflict), Catch::Contains("Conflict") && Catch::Contains("has been modified"));

  Response invalid = h.call(http::verb::post, "/api/v1/namespaces/" + ns + "/configmaps",
                            R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"Not_Valid"}})");
  CHECK(invalid.status == 422);
  CHECK_THAT(describe_response(invalid), Catch::Contains("Invalid"));
}

TEST_CASE("a list is paginated, filtered by selectors, and fills the store", "[list]") {
  Harness h;
  std::string ns = h.create_namespace();
  for (int i = 0; i < 25; ++i) {
    h.create_config_map(ns, "cm-" + std::to_string(i), std::to_string(i),
                        i % 5 == 0 ? R"({"tier":"gold"})" : R"({"tier":"plain"})");
  }
  ResourceRef paged = config_maps(ns);
  paged.page_size = 10;
  RunningInformer all(h, paged);
  auto synced = h.run(all->wait_synced());
  REQUIRE(synced);
  CHECK(all->has_synced());
  CHECK(all->stats().list_pages == 3);
  CHECK(all->store().size() == 25);
  CHECK(store_versions(all->store()) == h.list_versions(paged.list_path));
  Object one = all->store().get(ns + "/cm-7");
  REQUIRE(one);
  CHECK(string_at(*one, {"data", "v"}) == "7");
  CHECK(string_at(*one, {"kind"}) == "ConfigMap");  // filled in from the list's kind
  CHECK(string_at(*one, {"apiVersion"}) == "v1");
  CHECK(all.notifications.size() == 25);

  ResourceRef gold = config_maps(ns);
  gold.label_selector = "tier in (gold)";
  RunningInformer gold_only(h, gold);
  ResourceRef by_name = config_maps(ns);
  by_name.field_selector = "metadata.name=cm-3";
  RunningInformer one_name(h, by_name);
  REQUIRE(h.wait_for([&] { return gold_only->has_synced() && one_name->has_synced(); }));
  CHECK(gold_only->store().size() == 5);
  CHECK(gold_only->store().get(ns + "/cm-10"));
  CHECK(one_name->store().size() == 1);
  CHECK(one_name->store().get(ns + "/cm-3"));
  all.stop_and_check();
}

TEST_CASE("a watch sees creates, updates and deletes, and resumes after the server ends it", "[watch]") {
  Harness h;
  std::string ns = h.create_namespace();
  h.create_config_map(ns, "before", "0");
  InformerOptions short_watches;
  short_watches.min_watch_seconds = 2;  // the server ends each watch after 2-3 s: several resumes in this test
  short_watches.max_watch_seconds = 3;
  RunningInformer informer(h, config_maps(ns), short_watches);
  REQUIRE(h.wait_for([&] { return informer->has_synced(); }));
  CHECK(informer->store().size() == 1);

  std::string key = ns + "/watched";
  std::string created = h.create_config_map(ns, "watched", "1");
  REQUIRE(h.wait_for([&] { return stored_version(informer->store(), key) == created; }));
  std::string updated = h.patch_config_map(ns, "watched", "2");
  REQUIRE(h.wait_for([&] { return stored_version(informer->store(), key) == updated; }));
  CHECK(string_at(*informer->store().get(key), {"data", "v"}) == "2");
  h.delete_config_map(ns, "watched");
  REQUIRE(h.wait_for([&] { return !informer->store().get(key); }));

  // Keep writing across several server-side watch ends: every write is seen, by watch alone.
  auto until = Clock::now() + 8s;
  int i = 0;
  while (Clock::now() < until) {
    std::string name = "burst-" + std::to_string(i++);
    std::string rv = h.create_config_map(ns, name, "x");
    REQUIRE(h.wait_for([&] { return stored_version(informer->store(), ns + "/" + name) == rv; }));
  }
  CHECK(informer->stats().watches >= 3);
  CHECK(informer->stats().lists == 1);
  CHECK(informer->stats().expired == 0);
  CHECK(store_versions(informer->store()) == h.list_versions(config_maps(ns).list_path));
  informer.check_no_repeated_watch_notifications();
  // The notifications of the watched object: created, updated, deleted — each once.
  std::vector<std::string> watched;
  for (const auto& n : informer.notifications) {
    if (n.key == key) watched.push_back(n.resource_version);
  }
  CHECK(watched == std::vector<std::string>{created, updated, ""});
  h.log().info("watch test stats", {{"watches", informer->stats().watches},
                                    {"events", informer->stats().events},
                                    {"bookmarks", informer->stats().bookmarks}});
  informer.stop_and_check();
}

// Between the files "watching" and "restarted" in JARVIS_TEST_SIGNAL_DIR the wrapper stops kube-apiserver,
// writes to etcd and compacts its history, and starts kube-apiserver again: the informer's resourceVersion and
// a continue token taken before are then gone from history, in a way no bookmark can paper over.
TEST_CASE("an informer keeps a faithful cache across an API server restart and history compaction", "[restart]") {
  std::filesystem::path signals = required_env("JARVIS_TEST_SIGNAL_DIR");
  Harness h;
  std::string ns = h.create_namespace();
  h.create_config_map(ns, "kept", "0");
  h.create_config_map(ns, "doomed", "0");
  InformerOptions options;
  options.max_backoff = 2s;  // come back quickly once the server is up again
  RunningInformer informer(h, config_maps(ns), options);
  REQUIRE(h.wait_for([&] { return informer->has_synced(); }));
  std::string before = h.patch_config_map(ns, "kept", "1");
  REQUIRE(h.wait_for([&] { return stored_version(informer->store(), ns + "/kept") == before; }));
  Response first_page = h.call(http::verb::get, config_maps(ns).list_path + "?limit=1");
  REQUIRE(first_page.status == 200);
  auto first_doc = parse_json(first_page.body, "list");
  REQUIRE(first_doc);
  std::string continue_token(string_at(*first_doc, {"metadata", "continue"}).value_or(""));
  REQUIRE_FALSE(continue_token.empty());

  std::ofstream(signals / "watching") << "watching\n";
  // The informer keeps running (and failing, and backing off) while the server is away.
  REQUIRE(h.wait_for([&] { return std::filesystem::exists(signals / "restarted"); }, 180s));
  CHECK(informer->stats().failures > 0);

  Response second_page =
      h.call(http::verb::get, config_maps(ns).list_path + "?limit=1&continue=" + percent_encode(continue_token));
  INFO(second_page.body);
  CHECK(second_page.status == 410);
  CHECK(is_expired(second_page));

  // Changes right after the restart, probably before the informer is back: none may be lost.
  std::string after = h.patch_config_map(ns, "kept", "2");
  std::string added = h.create_config_map(ns, "added", "0");
  h.delete_config_map(ns, "doomed");
  REQUIRE(h.wait_for([&] {
    return stored_version(informer->store(), ns + "/kept") == after &&
           stored_version(informer->store(), ns + "/added") == added && !informer->store().get(ns + "/doomed");
  }, 60s));
  std::string last = h.patch_config_map(ns, "kept", "3");
  REQUIRE(h.wait_for([&] { return stored_version(informer->store(), ns + "/kept") == last; }));
  CHECK(store_versions(informer->store()) == h.list_versions(config_maps(ns).list_path));
  CHECK(informer->stats().expired >= 1);  // the watch from the compacted resourceVersion got a 410...
  CHECK(informer->stats().lists >= 2);    // ...and the informer listed again
  informer.check_no_repeated_watch_notifications();
  h.log().info("restart test stats", {{"lists", informer->stats().lists},
                                      {"watches", informer->stats().watches},
                                      {"expired", informer->stats().expired},
                                      {"failures", informer->stats().failures}});
  informer.stop_and_check();
}
