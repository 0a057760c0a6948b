// The reconciler against scripted collaborators: an in-memory Command store with resourceVersion
// preconditions (409 on a stale write, like the API server) and scripted agents that record every call.
// Sequences of objects are replayed as the informer would deliver them, to check exactly-once dispatch
// under resync, conflicts, restarts with Dispatched nodes, spec changes and deletion mid-run.
#include <catch2/catch.hpp>

#include <thread>

#include <chrono>
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <grpcpp/support/status_code_enum.h>

#include "common/coro.hpp"
#include "common/json.hpp"
#include "common/time_format.hpp"
#include "controller/command_status.hpp"
#include "controller/reconciler.hpp"

using namespace jarvis;
using namespace jarvis::controller;
namespace asio = boost::asio;

namespace {

const std::string kKey = "jarvis/cmd";
const std::string kUid = "uid-1";

// The API server's side of one Command: the stored object and every write made to it, in order.
class ScriptedApi final : public CommandApi {
 public:
  explicit ScriptedApi(std::vector<std::string>& journal) : journal_(journal) {}

  std::shared_ptr<rapidjson::Document> object;  // what the API server stores; nullptr = gone
  int resource_version = 1;
  std::vector<CommandStatus> statuses;          // every accepted status write
  std::vector<EventSpec> events;
  bool hold_events = false;
  int fail_events = 0;                  // the next posts fail (429 after the client's retries)
  std::set<std::string> event_names;    // every Event created, by name
  int duplicate_event_posts = 0;        // posts of a name already taken
  int finalizer_conflicts = 0;          // the next finalizer changes answer 409
  int conflicts = 0;
  std::optional<int> fail_next_status_with;    // an HTTP status to answer the next status write with
  std::string spec_extra;                      // more spec fields for store(), e.g. R"(,"ttlSecondsAfterFinished":3)"
  std::vector<std::string> deleted_uids;       // every accepted DELETE, by its uid precondition

  void store(std::int64_t generation, const std::string& command, bool finalizer = true, bool deleting = false,
             const std::string& status_json_text = "") {
    std::string text = R"({"apiVersion":"jarvis.io/v1","kind":"Command","metadata":{"name":"cmd","namespace":"jarvis",)"
                       R"("uid":")" + kUid + R"(","generation":)" + std::to_string(generation) +
                       R"(,"resourceVersion":")" + std::to_string(++resource_version) + "\"";
    if (finalizer) text += R"(,"finalizers":["jarvis.io/finalizer"])";
    if (deleting) text += R"(,"deletionTimestamp":"2026-11-29T12:00:00Z")";
    text += R"(},"spec":{"command":")" + command + R"(","timeoutSeconds":30)" + spec_extra + "}";
    if (!status_json_text.empty()) text += R"(,"status":)" + status_json_text;
    text += "}";
    object = std::make_shared<rapidjson::Document>();
    object->Parse(text.c_str());
    REQUIRE_FALSE(object->HasParseError());
  }

  // A copy of the stored object, as an informer's cache would hand it out.
  kube::Object snapshot() const {
    if (!object) return nullptr;
    auto copy = std::make_shared<rapidjson::Document>();
    copy->CopyFrom(*object, copy->GetAllocator());
    return copy;
  }

  asio::awaitable<Status> write_status(const rapidjson::Value& written_from, const CommandMeta& meta,
                                       const CommandStatus& status) override {
    (void)written_from;
    if (fail_next_status_with) {
      const int code = *fail_next_status_with;
      fail_next_status_with.reset();
      co_return Error{"scripted failure", code};
    }
    if (!object) co_return Error{"not found", 404};
    if (meta.resource_version != current_version()) {
      ++conflicts;
      journal_.push_back("status-conflict");
      co_return Error{"conflict", 409};
    }
    rapidjson::Document st;
    st.Parse(status_json(status).c_str());
    object->RemoveMember("status");
    object->AddMember("status", rapidjson::Value(st, object->GetAllocator()), object->GetAllocator());
    bump();
    statuses.push_back(status);
    journal_.push_back("status " + std::string(to_string(*status.phase)));
    co_return Ok{};
  }

  asio::awaitable<Status> set_finalizer(const CommandMeta& meta, bool present) override {
    if (!object) co_return Error{"not found", 404};
    if (finalizer_conflicts > 0) {
      --finalizer_conflicts;
      journal_.push_back("finalizer-conflict");
      co_return Error{"conflict", 409};
    }
    if (meta.resource_version != current_version()) co_return Error{"conflict", 409};
    auto& md = (*object)["metadata"];
    md.RemoveMember("finalizers");
    rapidjson::Value list(rapidjson::kArrayType);
    if (present) list.PushBack(rapidjson::Value("jarvis.io/finalizer"), object->GetAllocator());
    md.AddMember("finalizers", list, object->GetAllocator());
    bump();
    journal_.push_back(present ? "add-finalizer" : "remove-finalizer");
    co_return Ok{};
  }

  asio::awaitable<Result<kube::Object>> read(const CommandMeta&) override {
    journal_.push_back("read");
    co_return snapshot();
  }

  asio::awaitable<Status> remove(const CommandMeta& meta) override {
    if (!object) co_return Error{"not found", 404};
    if (meta.uid != *string_at(*object, {"metadata", "uid"})) co_return Error{"uid precondition failed", 409};
    deleted_uids.push_back(meta.uid);
    journal_.push_back("delete " + meta.uid);
    object.reset();
    co_return Ok{};
  }

  asio::awaitable<Status> post_event(const CommandMeta& meta, const EventSpec& event) override {
    // A slow event client (its own rate limit): posts wait while the test holds them.
    while (hold_events) {
      const bool slept = co_await sleep_for(std::chrono::milliseconds(1));
      if (!slept) co_return Error{"cancelled"};
    }
    if (fail_events > 0) {
      --fail_events;
      co_return Error{"the server is busy (429), after the client's retries", 429};
    }
    // As the API server: an Event's name is taken once (CommandWriter reads 409 AlreadyExists as posted).
    if (!event_names.insert(event_object_name(meta, event.key)).second) {
      ++duplicate_event_posts;
      co_return Ok{};
    }
    events.push_back(event);
    journal_.push_back("event " + event.reason);
    co_return Ok{};
  }

 private:
  std::string current_version() const { return std::string(*string_at(*object, {"metadata", "resourceVersion"})); }
  void bump() {
    (*object)["metadata"]["resourceVersion"].SetString(std::to_string(++resource_version).c_str(),
                                                       object->GetAllocator());
  }
  std::vector<std::string>& journal_;
};

// Agents that run nothing: they remember ids (like the agent's journal), record every call, and finish an
// execution when the test says so.
class ScriptedAgents final : public AgentApi {
 public:
  ScriptedAgents(asio::io_context& io, std::vector<std::string>& journal) : io_(io), journal_(journal) {}

  struct Run {
    jarvis::v1::Execution execution;
    int runs = 0;  // how many times the command would have been started
  };
  std::map<std::string, Run> runs;       // by execution id: what the agents' journals hold
  std::vector<jarvis::v1::StartRequest> starts;
  std::vector<std::string> cancels;
  std::optional<std::int64_t> journal_horizon_ms;  // resumed Starts dispatched before this get NOT_FOUND

  void finish(const std::string& id, int exit_code, const std::string& output) {
    auto& e = runs.at(id).execution;
    e.set_state(exit_code == 0 ? jarvis::v1::STATE_SUCCEEDED : jarvis::v1::STATE_FAILED);
    e.set_exited(true);
    e.set_exit_code(exit_code);
    e.set_output(output);
    e.set_end_time_unix_ms(1);
    wake();
  }

  asio::awaitable<Result<jarvis::v1::Execution>> start(const std::string& address, jarvis::v1::StartRequest request,
                                                       std::chrono::milliseconds) override {
    starts.push_back(request);
    journal_.push_back(std::string(request.resume() ? "resume " : "start ") + request.execution_id() + " @" + address);
    auto it = runs.find(request.execution_id());
    if (it == runs.end()) {
      if (request.resume() && journal_horizon_ms && request.dispatched_unix_ms() < *journal_horizon_ms)
        co_return Error{"no record; journal too young", static_cast<int>(grpc::StatusCode::NOT_FOUND)};
      Run run;
      run.execution.set_execution_id(request.execution_id());
      run.execution.set_state(jarvis::v1::STATE_RUNNING);
      run.runs = 1;
      it = runs.emplace(request.execution_id(), run).first;
    }
    co_return it->second.execution;
  }

  asio::awaitable<Result<jarvis::v1::Execution>> wait(const std::string&, std::string id, std::chrono::milliseconds max_wait,
                                                      std::chrono::milliseconds) override {
    auto it = runs.find(id);
    if (it == runs.end()) co_return Error{"unknown", static_cast<int>(grpc::StatusCode::NOT_FOUND)};
    if (it->second.execution.state() == jarvis::v1::STATE_RUNNING) {
      auto timer = std::make_shared<asio::steady_timer>(io_, max_wait);
      waiters_.push_back(timer);
      co_await timer->async_wait(use_tuple);
    }
    co_return runs.at(id).execution;
  }

  asio::awaitable<Result<jarvis::v1::Execution>> cancel(const std::string&, std::string id,
                                                        std::chrono::milliseconds) override {
    cancels.push_back(id);
    journal_.push_back("cancel " + id);
    auto& run = runs[id];  // an unknown id becomes a tombstone: a later Start never runs it
    run.execution.set_execution_id(id);
    if (run.execution.state() == jarvis::v1::STATE_RUNNING || run.execution.state() == jarvis::v1::STATE_UNSPECIFIED) {
      run.execution.set_state(jarvis::v1::STATE_CANCELED);
      wake();
    }
    co_return run.execution;
  }

  int total_runs(const std::string& id) const { return runs.contains(id) ? runs.at(id).runs : 0; }

 private:
  void wake() {
    for (auto& w : waiters_) w->cancel();
    waiters_.clear();
  }
  asio::io_context& io_;
  std::vector<std::string>& journal_;
  std::vector<std::shared_ptr<asio::steady_timer>> waiters_;
};

ClusterView three_nodes() {
  ClusterView v;
  for (const char* n : {"n1", "n2", "n3"}) v.nodes.push_back(NodeInfo{n, {}});
  v.agents = {{"n1", "10.0.0.1:50051"}, {"n2", "10.0.0.2:50051"}, {"n3", "10.0.0.3:50051"}};
  return v;
}

std::string id_of(std::int64_t generation, const std::string& node) {
  return kUid + ".g" + std::to_string(generation) + "." + node;
}

// One controller process: a reconciler with its own trackers, over the shared API and agents.
struct Controller {
  // status_spacing: ReconcilerOptions::status_spacing_per_node; none by default, so results are written as soon
  // as they are planned and the cases stay deterministic.
  Controller(asio::io_context& io, ScriptedApi& api, ScriptedAgents& agents, ClusterView& cluster,
             std::chrono::microseconds status_spacing = {})
      : io(io),
        log(std::getenv("JARVIS_TEST_DEBUG") ? LogLevel::debug : LogLevel::error, stderr),
        reconciler(io.get_executor(), api, agents, [this](const std::string&) { return cache; },
                   [&cluster]() -> const ClusterView& { return cluster; },
                   [this](const std::string& key, std::chrono::steady_clock::duration delay) {
                     requeued.push_back(key);
                     delays.push_back(delay);
                   },
                   options(status_spacing), log) {}

  static ReconcilerOptions options(std::chrono::microseconds status_spacing) {
    ReconcilerOptions o;
    o.status_spacing_per_node = status_spacing;
    o.status_spacing_max = std::chrono::seconds(10);
    o.tracker.retry_backoff = std::chrono::milliseconds(1);
    o.tracker.max_retry_backoff = std::chrono::milliseconds(2);
    o.tracker.wait_poll = std::chrono::milliseconds(200);
    o.cancel.first_backoff = std::chrono::milliseconds(1);
    o.cancel.max_backoff = std::chrono::milliseconds(2);
    o.events.retry_after_failure = std::chrono::milliseconds(50);
    return o;
  }

  ReconcileResult reconcile() {
    std::optional<ReconcileResult> result;
    io.restart();  // run_one() does nothing on an io_context that ran out of work until restarted
    asio::co_spawn(io, reconciler.reconcile(kKey), [&](std::exception_ptr e, ReconcileResult r) {
      REQUIRE_FALSE(e);
      result = r;
    });
    while (!result) io.run_one();
    settle();
    return *result;
  }

  // Runs what is ready (trackers' calls, cancels) without waiting for timers far away.
  void settle() {
    io.restart();
    for (int i = 0; i < 50; ++i) io.poll();
  }

  asio::io_context& io;
  Logger log;
  kube::Object cache;
  std::vector<std::string> requeued;
  std::vector<std::chrono::steady_clock::duration> delays;  // of each requeue, in order
  Reconciler reconciler;
};

// Runs the io_context until `done` holds (bounded).
template <typename Done>
void run_until(asio::io_context& io, Done done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!done()) {
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    io.restart();
    io.run_for(std::chrono::milliseconds(5));
  }
}

int count(const std::vector<std::string>& journal, const std::string& prefix) {
  int n = 0;
  for (const auto& line : journal) n += line.rfind(prefix, 0) == 0 ? 1 : 0;
  return n;
}

std::size_t index_of(const std::vector<std::string>& journal, const std::string& prefix) {
  for (std::size_t i = 0; i < journal.size(); ++i)
    if (journal[i].rfind(prefix, 0) == 0) return i;
  FAIL("no journal line starts with " << prefix);
  return 0;
}

struct Fixture {
  asio::io_context io;
  std::vector<std::string> journal;
  ScriptedApi api{journal};
  ScriptedAgents agents{io, journal};
  ClusterView cluster = three_nodes();
};

// A `sleep 100` dispatched to every node, then deleted while it runs (status kept, as the API server does).
void dispatch_then_delete(Fixture& f, Controller& c) {
  f.api.store(1, "sleep 100");
  c.cache = f.api.snapshot();
  c.reconcile();
  c.cache = f.api.snapshot();
  const std::string running = serialize((*c.cache)["status"]);
  // As the API server does: setting deletionTimestamp bumps metadata.generation.
  f.api.store(2, "sleep 100", true, /*deleting=*/true, running);
}

}  // namespace

TEST_CASE("a new Command gets the finalizer first and nothing else") {
  Fixture f;
  Controller c(f.io, f.api, f.agents, f.cluster);
  f.api.store(1, "echo hi", /*finalizer=*/false);
  c.cache = f.api.snapshot();
  CHECK(c.reconcile() == ReconcileResult::done());
  CHECK(f.journal == std::vector<std::string>{"add-finalizer"});
  CHECK(f.agents.starts.empty());
}

TEST_CASE("dispatch writes every target Dispatched before any Start, and runs each node once") {
  Fixture f;
  Controller c(f.io, f.api, f.agents, f.cluster);
  f.api.store(1, "echo hi");
  c.cache = f.api.snapshot();
  CHECK(c.reconcile() == ReconcileResult::done());
  REQUIRE(f.api.statuses.size() == 1);
  const CommandStatus& dispatched = f.api.statuses[0];
  REQUIRE(dispatched.nodes.size() == 3);
  for (const auto& n : dispatched.nodes) {
    CHECK(n.reason == reason::dispatched);
    CHECK(n.execution_id == id_of(1, n.name));
  }
  const std::size_t status_at = index_of(f.journal, "status Running");
  CHECK(status_at < index_of(f.journal, "start "));
  CHECK(count(f.journal, "start ") == 3);
  for (const auto& start : f.agents.starts) CHECK_FALSE(start.resume());

  SECTION("a resync of the object dispatch was decided on (the cache behind our write) starts nothing again") {
    CHECK(c.reconcile() == ReconcileResult::done());  // waits for the watch: no write, so no 409 either
    CHECK(f.api.conflicts == 0);
    CHECK(f.api.statuses.size() == 1);
    CHECK(count(f.journal, "start ") == 3);
  }
  SECTION("a stale object that is not the one we wrote over still conflicts and starts nothing again") {
    Controller other(f.io, f.api, f.agents, f.cluster);  // another process: it never wrote this Command
    other.cache = c.cache;
    CHECK(other.reconcile() == ReconcileResult::after(kConflictRequeue));
    CHECK(f.api.conflicts == 1);
    CHECK(count(f.journal, "start ") == 3);
  }
  SECTION("the object as written: trackers already follow every node, nothing is started again") {
    c.cache = f.api.snapshot();
    CHECK(c.reconcile() == ReconcileResult::done());
    CHECK(count(f.journal, "start ") == 3);
    CHECK(count(f.journal, "resume ") == 0);
  }
  SECTION("results are written to status before their events, once") {
    c.cache = f.api.snapshot();
    for (const char* n : {"n1", "n2", "n3"}) f.agents.finish(id_of(1, n), 0, std::string("out-") + n);
    run_until(f.io, [&] { return c.requeued.size() >= 3; });
    for (const auto delay : c.delays) CHECK(delay <= std::chrono::steady_clock::duration::zero());  // no spacing
    CHECK(c.reconcile() == ReconcileResult::done());
    const CommandStatus& last = f.api.statuses.back();
    CHECK(last.phase == Phase::succeeded);
    CHECK(last.succeeded == 3);
    CHECK(index_of(f.journal, "status Succeeded") < index_of(f.journal, "event cmd-n1"));
    CHECK(count(f.journal, "event cmd-") == 3);
    // The cache still shows the Dispatched status: nothing is resumed, nothing reported twice.
    const auto writes = f.api.statuses.size();
    CHECK(c.reconcile() == ReconcileResult::done());
    CHECK(f.api.statuses.size() == writes);
    c.cache = f.api.snapshot();
    CHECK(c.reconcile() == ReconcileResult::done());
    CHECK(count(f.journal, "event cmd-") == 3);
    CHECK(count(f.journal, "resume ") == 0);
    for (const char* n : {"n1", "n2", "n3"}) CHECK(f.agents.total_runs(id_of(1, n)) == 1);
  }
}

TEST_CASE("results soon after a status write are gathered for a later write; dispatch never waits") {
  Fixture f;
  // 1 s per targeted node: the three results must wait about 3 s after the dispatch write.
  Controller c(f.io, f.api, f.agents, f.cluster, std::chrono::seconds(1));
  f.api.store(1, "echo hi");
  c.cache = f.api.snapshot();
  CHECK(c.reconcile() == ReconcileResult::done());  // the dispatch write is not held back
  REQUIRE(f.api.statuses.size() == 1);
  CHECK(count(f.journal, "start ") == 3);

  c.cache = f.api.snapshot();
  for (const char* n : {"n1", "n2", "n3"}) f.agents.finish(id_of(1, n), 0, "ok");
  run_until(f.io, [&] { return c.requeued.size() >= 3; });
  // Each result asks for its reconcile when the dispatch write's spacing ends, not at once: one plan then
  // gathers all three.
  for (const auto delay : c.delays) {
    CHECK(delay > std::chrono::steady_clock::duration::zero());
    CHECK(delay <= std::chrono::seconds(3));
  }
  const ReconcileResult held = c.reconcile();
  REQUIRE(held.kind == ReconcileResult::Kind::requeue_after);
  CHECK(held.delay > std::chrono::milliseconds(0));
  CHECK(held.delay <= std::chrono::milliseconds(3000));
  // Nothing of the results went out: no status write, no event (an event never precedes its status).
  CHECK(f.api.statuses.size() == 1);
  CHECK(count(f.journal, "event cmd-") == 0);

  // Once the delay it asked for has passed, the same plan is written, then its events.
  std::this_thread::sleep_for(held.delay);
  CHECK(c.reconcile() == ReconcileResult::done());
  CHECK(f.api.statuses.size() == 2);
  CHECK(f.api.statuses.back().phase == Phase::succeeded);
  CHECK(index_of(f.journal, "status Succeeded") < index_of(f.journal, "event cmd-n1"));
  CHECK(count(f.journal, "event cmd-") == 3);
  for (const char* n : {"n1", "n2", "n3"}) CHECK(f.agents.total_runs(id_of(1, n)) == 1);
}

TEST_CASE("a failed dispatch write (409, 500) sends no Start") {
  Fixture f;
  Controller c(f.io, f.api, f.agents, f.cluster);
  f.api.store(1, "echo hi");
  c.cache = f.api.snapshot();
  f.api.fail_next_status_with = GENERATE(409, 500, 422, 403);
  const ReconcileResult r = c.reconcile();
  CHECK(r.kind != ReconcileResult::Kind::done);
  CHECK(f.agents.starts.empty());
  CHECK(f.api.events.empty());
}

TEST_CASE("a status write answered 404 ends the reconcile: the Command is gone") {
  Fixture f;
  Controller c(f.io, f.api, f.agents, f.cluster);
  f.api.store(1, "echo hi");
  c.cache = f.api.snapshot();
  f.api.fail_next_status_with = 404;
  CHECK(c.reconcile() == ReconcileResult::done());
  CHECK(f.agents.starts.empty());
}

TEST_CASE("a controller restarted with Dispatched nodes resumes them with Start(resume), never a fresh run") {
  Fixture f;
  {
    Controller first(f.io, f.api, f.agents, f.cluster);
    f.api.store(1, "echo hi");
    first.cache = f.api.snapshot();
    first.reconcile();
  }  // the first controller dies: its trackers stop; the agents keep the runs
  const auto written = f.api.statuses.at(0);
  SECTION("the agents have the runs: resumed, each answered from the record, none run twice") {
    Controller second(f.io, f.api, f.agents, f.cluster);
    second.cache = f.api.snapshot();
    CHECK(second.reconcile() == ReconcileResult::done());
    CHECK(count(f.journal, "resume ") == 3);
    const auto dispatched_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
        parse_rfc3339(written.start_time)->time_since_epoch()).count();
    for (const auto& start : f.agents.starts) {
      if (!start.resume()) continue;
      CHECK(start.dispatched_unix_ms() == dispatched_ms);
    }
    for (const char* n : {"n1", "n2", "n3"}) f.agents.finish(id_of(1, n), 0, "ok");
    run_until(f.io, [&] { return second.requeued.size() >= 3; });
    second.reconcile();
    CHECK(f.api.statuses.back().phase == Phase::succeeded);
    for (const char* n : {"n1", "n2", "n3"}) CHECK(f.agents.total_runs(id_of(1, n)) == 1);
  }
  SECTION("Start never reached the agents (crash after the status write): the resumed Start runs it once") {
    f.agents.runs.clear();
    Controller second(f.io, f.api, f.agents, f.cluster);
    second.cache = f.api.snapshot();
    second.reconcile();
    for (const char* n : {"n1", "n2", "n3"}) CHECK(f.agents.total_runs(id_of(1, n)) == 1);
    CHECK(f.api.statuses.size() == 1);  // nothing to report yet: still Dispatched, now followed
  }
  SECTION("an agent whose journal does not reach back to the dispatch: reported Lost, not run") {
    f.agents.runs.erase(id_of(1, "n2"));
    f.agents.journal_horizon_ms = std::numeric_limits<std::int64_t>::max();
    Controller second(f.io, f.api, f.agents, f.cluster);
    second.cache = f.api.snapshot();
    second.reconcile();
    run_until(f.io, [&] { return !second.requeued.empty(); });
    second.cache = f.api.snapshot();
    second.reconcile();
    const CommandStatus& now = f.api.statuses.back();
    const NodeStatus* n2 = const_cast<CommandStatus&>(now).find("n2");
    REQUIRE(n2 != nullptr);
    CHECK(n2->reason == reason::lost);
    CHECK(n2->phase == Phase::failed);
    CHECK(f.agents.total_runs(id_of(1, "n2")) == 0);
  }
}

TEST_CASE("a spec change supersedes the running generation: it is cancelled, the new one runs once") {
  Fixture f;
  std::optional<Controller> c;
  c.emplace(f.io, f.api, f.agents, f.cluster);
  f.api.store(1, "sleep 100");
  c->cache = f.api.snapshot();
  c->reconcile();
  c->cache = f.api.snapshot();
  const std::string dispatched_status = serialize((*c->cache)["status"]);
  f.api.store(2, "echo v2", true, false, dispatched_status);

  SECTION("in the same process") {}
  SECTION("after a restart: the cancels come from the status, no tracker needed") {
    c.reset();
    f.agents.runs.erase(id_of(1, "n3"));  // this one never got its Start: the cancel leaves a tombstone
    c.emplace(f.io, f.api, f.agents, f.cluster);
  }
  c->cache = f.api.snapshot();
  CHECK(c->reconcile() == ReconcileResult::done());
  run_until(f.io, [&] { return f.agents.cancels.size() >= 3; });
  for (const char* n : {"n1", "n2", "n3"}) {
    CHECK(std::count(f.agents.cancels.begin(), f.agents.cancels.end(), id_of(1, n)) >= 1);
    CHECK(f.agents.total_runs(id_of(2, n)) == 1);
    CHECK(f.agents.total_runs(id_of(1, n)) <= 1);
  }
  CHECK(f.api.statuses.back().observed_generation == 2);
}

TEST_CASE("deleting a running Command cancels on the agents, then removes the finalizer") {
  Fixture f;
  Controller c(f.io, f.api, f.agents, f.cluster);
  dispatch_then_delete(f, c);
  c.cache = f.api.snapshot();
  CHECK(c.reconcile() == ReconcileResult::done());
  CHECK(f.agents.cancels.size() == 3);
  const std::size_t removed = index_of(f.journal, "remove-finalizer");
  for (const char* n : {"n1", "n2", "n3"}) CHECK(index_of(f.journal, "cancel " + id_of(1, n)) < removed);
  CHECK(c.reconciler.active_trackers() == 0);
  // Gone from the cache afterwards: forgotten, nothing more written.
  c.cache = nullptr;
  const auto lines = f.journal.size();
  CHECK(c.reconcile() == ReconcileResult::done());
  CHECK(f.journal.size() == lines);
}

TEST_CASE("nodes without a ready agent are reported at dispatch; an invalid spec runs nothing") {
  Fixture f;
  Controller c(f.io, f.api, f.agents, f.cluster);
  SECTION("agent missing") {
    f.cluster.agents.erase("n2");
    f.api.store(1, "echo hi");
    c.cache = f.api.snapshot();
    c.reconcile();
    CHECK(f.api.statuses.at(0).find("n2")->reason == reason::agent_not_found);
    CHECK(count(f.journal, "start ") == 2);
    CHECK(index_of(f.journal, "status Running") < index_of(f.journal, "event cmd-n2"));
  }
  SECTION("invalid spec: one status, one event, and a resync writes nothing more") {
    f.api.store(1, "");
    c.cache = f.api.snapshot();
    c.reconcile();
    CHECK(f.api.statuses.at(0).phase == Phase::failed);
    CHECK(f.api.events.at(0).reason == "InvalidSpec");
    // Its event posted, a resync drops it from status.eventsPending, and the next one writes nothing more.
    run_until(f.io, [&] { return c.reconciler.pending_events() == 0; });
    c.cache = f.api.snapshot();
    c.reconcile();
    REQUIRE(f.api.statuses.size() == 2);
    CHECK(f.api.statuses.at(0).events_pending == std::set<std::string>{"command/InvalidSpec"});
    CHECK(f.api.statuses.at(1).events_pending.empty());
    c.cache = f.api.snapshot();
    c.reconcile();
    CHECK(f.api.statuses.size() == 2);
    CHECK(f.api.events.size() == 1);
    CHECK(f.agents.starts.empty());
  }
}

TEST_CASE("a window slot freed by a result is recorded Dispatched before its Start") {
  Fixture f;
  Controller c(f.io, f.api, f.agents, f.cluster);
  f.api.spec_extra = R"(,"maxConcurrency":1)";
  f.api.store(1, "echo hi");
  c.cache = f.api.snapshot();
  CHECK(c.reconcile() == ReconcileResult::done());
  CHECK(count(f.journal, "start ") == 1);
  CHECK(f.api.statuses.back().pending == 2);
  c.cache = f.api.snapshot();
  f.agents.finish(id_of(1, "n1"), 0, "ok");
  run_until(f.io, [&] { return !c.requeued.empty(); });
  CHECK(c.reconcile() == ReconcileResult::done());
  // One write records n1's result and n2's dispatch; only then is n2 started.
  const std::size_t written = f.journal.size() - 1 - std::distance(
      f.journal.rbegin(), std::find_if(f.journal.rbegin(), f.journal.rend(), [](const std::string& l) {
        return l.rfind("status ", 0) == 0;
      }));
  CHECK(written < index_of(f.journal, "start " + id_of(1, "n2")));
  CHECK(f.api.statuses.back().find("n2")->reason == reason::dispatched);
  CHECK(f.api.statuses.back().succeeded == 1);
  CHECK(f.agents.total_runs(id_of(1, "n3")) == 0);
}

TEST_CASE("a finished Command is deleted ttlSecondsAfterFinished after completion, by uid, after a re-read") {
  Fixture f;
  Controller c(f.io, f.api, f.agents, f.cluster);
  f.api.spec_extra = R"(,"ttlSecondsAfterFinished":0)";
  const auto now = std::chrono::system_clock::now();
  const auto finished = [&](std::chrono::system_clock::time_point completed) {
    return R"({"phase":"Succeeded","observedGeneration":1,"completionTime":")" + rfc3339(completed) +
           R"(","targeted":0,"nodes":[]})";
  };
  SECTION("due: read, then deleted with the uid") {
    f.api.store(1, "echo hi", true, false, finished(now - std::chrono::seconds(5)));
    c.cache = f.api.snapshot();
    CHECK(c.reconcile() == ReconcileResult::done());
    CHECK(index_of(f.journal, "read") < index_of(f.journal, "delete " + kUid));
    CHECK(f.api.deleted_uids == std::vector<std::string>{kUid});
  }
  SECTION("not due yet: requeued for when it is, nothing deleted") {
    f.api.spec_extra = R"(,"ttlSecondsAfterFinished":60)";
    f.api.store(1, "echo hi", true, false, finished(now - std::chrono::seconds(5)));
    c.cache = f.api.snapshot();
    const ReconcileResult r = c.reconcile();
    REQUIRE(r.kind == ReconcileResult::Kind::requeue_after);
    CHECK(r.delay > std::chrono::seconds(50));
    CHECK(r.delay <= std::chrono::seconds(55));
    CHECK(f.api.deleted_uids.empty());
  }
  SECTION("a completionTime in the future (clock skew) defers instead of deleting early") {
    f.api.store(1, "echo hi", true, false, finished(now + std::chrono::minutes(10)));
    c.cache = f.api.snapshot();
    const ReconcileResult r = c.reconcile();
    REQUIRE(r.kind == ReconcileResult::Kind::requeue_after);
    CHECK(r.delay > std::chrono::minutes(9));
    CHECK(f.api.deleted_uids.empty());
  }
  SECTION("the re-read shows a new run (spec changed since the cache): not deleted") {
    f.api.store(1, "echo hi", true, false, finished(now - std::chrono::seconds(5)));
    c.cache = f.api.snapshot();
    f.api.store(2, "echo new", true, false, finished(now - std::chrono::seconds(5)));  // observedGeneration 1 < 2
    CHECK(c.reconcile() == ReconcileResult::done());
    CHECK(f.api.deleted_uids.empty());
  }
  SECTION("a running Command is never deleted") {
    f.api.store(1, "sleep 100");
    c.cache = f.api.snapshot();
    c.reconcile();
    c.cache = f.api.snapshot();
    c.reconcile();
    CHECK(f.api.deleted_uids.empty());
    CHECK(count(f.journal, "read") == 0);
  }
}

TEST_CASE("a batch's events never hold up the next status write of the same Command") {
  Fixture f;
  Controller c(f.io, f.api, f.agents, f.cluster);
  f.api.store(1, "echo hi");
  c.cache = f.api.snapshot();
  CHECK(c.reconcile() == ReconcileResult::done());  // dispatch
  f.api.hold_events = true;

  c.cache = f.api.snapshot();
  f.agents.finish(id_of(1, "n1"), 0, "first");
  run_until(f.io, [&] { return c.requeued.size() >= 1; });
  CHECK(c.reconcile() == ReconcileResult::done());  // n1's result written; its event handed over, still held
  CHECK(f.api.statuses.back().succeeded == 1);
  CHECK(count(f.journal, "event cmd-") == 0);
  CHECK(c.reconciler.pending_events() == 1);

  c.cache = f.api.snapshot();
  for (const char* n : {"n2", "n3"}) f.agents.finish(id_of(1, n), 0, "later");
  run_until(f.io, [&] { return c.requeued.size() >= 3; });
  CHECK(c.reconcile() == ReconcileResult::done());  // written while n1's event is still held
  CHECK(f.api.statuses.back().phase == Phase::succeeded);
  CHECK(f.api.statuses.back().succeeded == 3);
  CHECK(count(f.journal, "event cmd-") == 0);
  CHECK(c.reconciler.pending_events() >= 3);

  // Released, every event goes out once, each after the status write with its result.
  f.api.hold_events = false;
  run_until(f.io, [&] { return c.reconciler.pending_events() == 0; });
  CHECK(count(f.journal, "event cmd-n1") == 1);
  CHECK(count(f.journal, "event cmd-n2") == 1);
  CHECK(count(f.journal, "event cmd-n3") == 1);
  CHECK(index_of(f.journal, "status Succeeded") < index_of(f.journal, "event cmd-n1"));
}

TEST_CASE("events owed in the status are posted by the next controller, each exactly once") {
  Fixture f;
  Controller first(f.io, f.api, f.agents, f.cluster);
  f.api.store(1, "echo hi");
  first.cache = f.api.snapshot();
  CHECK(first.reconcile() == ReconcileResult::done());  // dispatch
  f.api.hold_events = true;  // the first controller's events stay queued (a squeezed event budget)
  for (const char* n : {"n1", "n2", "n3"}) f.agents.finish(id_of(1, n), 0, std::string("out of ") + n);
  run_until(f.io, [&] { return first.requeued.size() >= 3; });
  first.cache = f.api.snapshot();
  CHECK(first.reconcile() == ReconcileResult::done());
  // The write that records the results also records their events as owed.
  REQUIRE(f.api.statuses.back().phase == Phase::succeeded);
  CHECK(f.api.statuses.back().events_pending ==
        std::set<std::string>{"node/n1", "node/n2", "node/n3", "command/Summary"});
  CHECK(f.api.events.empty());

  // The first controller is gone as far as the Command is concerned (crashed, or lost the lease); the next one
  // finds the events owed and posts them, rebuilt from the status.
  Controller second(f.io, f.api, f.agents, f.cluster);
  second.cache = f.api.snapshot();
  CHECK(second.reconcile() == ReconcileResult::done());
  CHECK(second.reconciler.pending_events() == 4);
  // Both post now (the first one was only slow): the fixed names keep each event to one.
  f.api.hold_events = false;
  run_until(f.io, [&] { return second.reconciler.pending_events() == 0 && first.reconciler.pending_events() == 0; });
  CHECK(f.api.events.size() == 4);
  CHECK(f.api.duplicate_event_posts == 4);
  for (const char* n : {"n1", "n2", "n3"}) CHECK(count(f.journal, std::string("event cmd-") + n) == 1);
  CHECK(count(f.journal, "event Completed") == 1);
  const auto n2 = std::find_if(f.api.events.begin(), f.api.events.end(),
                               [](const EventSpec& e) { return e.reason == "cmd-n2"; });
  REQUIRE(n2 != f.api.events.end());
  CHECK(n2->message == "❯ echo hi\nout of n2");

  // Posted: the next reconcile drops them from the status, and then the Command is done with.
  second.cache = f.api.snapshot();
  CHECK(second.reconcile() == ReconcileResult::done());
  CHECK(f.api.statuses.back().events_pending.empty());
  CHECK(f.api.statuses.back().phase == Phase::succeeded);
  const auto writes = f.api.statuses.size();
  second.cache = f.api.snapshot();
  CHECK(second.reconcile() == ReconcileResult::done());
  CHECK(f.api.statuses.size() == writes);
  CHECK(f.api.events.size() == 4);
}

TEST_CASE("an event the client gave up on stays owed and is posted again after the retry delay") {
  Fixture f;
  Controller c(f.io, f.api, f.agents, f.cluster);
  f.api.store(1, "echo hi");
  c.cache = f.api.snapshot();
  CHECK(c.reconcile() == ReconcileResult::done());
  f.api.fail_events = 4;  // every event of the run fails once
  for (const char* n : {"n1", "n2", "n3"}) f.agents.finish(id_of(1, n), 0, "x");
  run_until(f.io, [&] { return c.requeued.size() >= 3; });
  c.cache = f.api.snapshot();
  CHECK(c.reconcile() == ReconcileResult::done());
  run_until(f.io, [&] { return c.reconciler.pending_events() == 0; });
  CHECK(f.api.events.empty());
  // Each failure asked for a reconcile after the retry delay; before it, nothing is posted again.
  const std::chrono::steady_clock::duration retry = Controller::options({}).events.retry_after_failure;
  CHECK(std::count(c.delays.begin(), c.delays.end(), retry) == 4);
  c.cache = f.api.snapshot();
  CHECK(c.reconcile() == ReconcileResult::done());
  CHECK(c.reconciler.pending_events() == 0);
  CHECK(f.api.statuses.back().events_pending.size() == 4);
  // After it: posted again, once each, then dropped from the status.
  bool due = false;
  asio::steady_timer retry_due(f.io, retry + std::chrono::milliseconds(5));
  retry_due.async_wait([&](const boost::system::error_code&) { due = true; });
  run_until(f.io, [&] { return due; });
  c.cache = f.api.snapshot();
  CHECK(c.reconcile() == ReconcileResult::done());
  run_until(f.io, [&] { return c.reconciler.pending_events() == 0; });
  CHECK(f.api.events.size() == 4);
  c.cache = f.api.snapshot();
  CHECK(c.reconcile() == ReconcileResult::done());
  CHECK(f.api.statuses.back().events_pending.empty());
}

TEST_CASE("a finalizer removal that conflicts is retried without cancelling (or logging) the executions again") {
  Fixture f;
  Controller c(f.io, f.api, f.agents, f.cluster);
  dispatch_then_delete(f, c);
  f.api.finalizer_conflicts = 1;
  c.cache = f.api.snapshot();
  CHECK(c.reconcile() == ReconcileResult::after(kConflictRequeue));
  CHECK(f.agents.cancels.size() == 3);
  c.cache = f.api.snapshot();
  CHECK(c.reconcile() == ReconcileResult::done());
  CHECK(count(f.journal, "remove-finalizer") == 1);
  CHECK(f.agents.cancels.size() == 3);  // each execution canceled once
}
