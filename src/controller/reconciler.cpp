#include "controller/reconciler.hpp"

#include <algorithm>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/verb.hpp>
#include <boost/system/system_error.hpp>
#include <rapidjson/document.h>

#include "common/time_format.hpp"
#include "common/utf8.hpp"
#include "controller/agent_endpoints.hpp"
#include "controller/event_message.hpp"
#include "controller/execution_id.hpp"
#include "controller/node_selector.hpp"
#include "kube/json.hpp"
#include "kube/response.hpp"

namespace jarvis::controller {

namespace asio = boost::asio;
using boost::beast::http::verb;

namespace {

constexpr auto kConflictRetry = std::chrono::milliseconds(250);

std::string command_path(const CommandMeta& m) {
  return "/apis/jarvis.io/v1/namespaces/" + m.ns + "/commands/" + m.name;
}

std::string now_rfc3339() { return rfc3339(std::chrono::system_clock::now()); }

// Copies what the agent reported into a node's status entry, keeping at most `budget` bytes of output.
void record_result(NodeStatus& n, const TrackerResult& r, std::uint64_t budget) {
  n.phase = r.outcome.succeeded() ? Phase::succeeded : Phase::failed;
  n.reason = r.reason;
  n.message = r.outcome.detail;
  if (!r.execution) {
    n.end_time = now_rfc3339();
    return;
  }
  const auto& e = *r.execution;
  if (e.exited()) n.exit_code = e.exit_code();
  if (e.signal() != 0) n.signal = e.signal();
  if (e.start_time_unix_ms() > 0) n.start_time = rfc3339_from_unix_ms(e.start_time_unix_ms());
  n.end_time = e.end_time_unix_ms() > 0 ? rfc3339_from_unix_ms(e.end_time_unix_ms()) : now_rfc3339();
  const std::string output = valid_utf8(e.output());
  n.output = std::string(utf8_prefix(output, budget));
  n.output_bytes = e.output_bytes_total();
  n.truncated = e.truncated() || n.output.size() < output.size();
}

std::string summary_message(const CommandStatus& s) {
  if (s.targeted == 0) return "spec.selector matched no node; nothing ran";
  if (!s.finished()) return "running on " + std::to_string(s.running) + " of " + std::to_string(s.targeted) + " node(s)";
  if (s.failed == 0) return "succeeded on all " + std::to_string(s.targeted) + " node(s)";
  std::string failed_nodes;
  int listed = 0;
  for (const auto& n : s.nodes) {
    if (n.phase != Phase::failed) continue;
    if (listed++ == 5) {
      failed_nodes += ", ...";
      break;
    }
    failed_nodes += (failed_nodes.empty() ? "" : ", ") + n.name + " (" + n.reason + ")";
  }
  return "failed on " + std::to_string(s.failed) + " of " + std::to_string(s.targeted) + " node(s): " + failed_nodes;
}

}  // namespace

Reconciler::Reconciler(asio::any_io_executor ex, kube::Client& api, CommandLookup commands,
                       const kube::ObjectStore& nodes, const kube::ObjectStore& agent_slices, AgentClient& agents,
                       WorkQueue& queue, ReconcilerOptions options, Logger& log)
    : ex_(std::move(ex)),
      api_(api),
      commands_(std::move(commands)),
      nodes_(nodes),
      agent_slices_(agent_slices),
      agents_(agents),
      queue_(queue),
      options_(options),
      log_(log) {}

Reconciler::~Reconciler() {
  *alive_ = false;
  stop_trackers();
}

asio::awaitable<ReconcileResult> Reconciler::reconcile(const std::string& key) {
  const kube::Object obj = commands_(key);
  const ReconcileResult r = co_await step(key, obj);
  if (log_.enabled(LogLevel::debug)) {
    log_.debug("reconciled", {{"command", key}, {"resource_version", obj ? kube::resource_version(*obj) : ""},
                              {"result", r.kind == ReconcileResult::Kind::done       ? "done"
                                         : r.kind == ReconcileResult::Kind::retry ? "retry"
                                                                                  : "requeue"}});
  }
  co_return r;
}

asio::awaitable<ReconcileResult> Reconciler::step(const std::string& key, const kube::Object& obj) {
  if (!obj) {
    // Gone without our finalizer (e.g. deleted while the controller was down and the finalizer was
    // removed by hand): nothing left to report on.
    stop_trackers_of(key, std::nullopt, true);
    forget(key);
    co_return ReconcileResult::done();
  }
  auto meta = parse_command_meta(*obj);
  if (!meta) {
    log_.error("ignoring malformed Command", {{"command", key}, {"error", meta.error().message}});
    co_return ReconcileResult::done();
  }
  if (meta->being_deleted) co_return co_await finalize(obj, *meta);
  if (!meta->has_finalizer(kFinalizer)) co_return co_await add_finalizer(obj, *meta);

  auto spec = parse_command_spec(*obj);
  if (!spec) co_return co_await report_invalid_spec(obj, *meta, spec.error().message);
  const Command cmd{*meta, std::move(*spec)};
  CommandStatus status = parse_status(*obj);
  if (status.observed_generation != cmd.meta.generation) co_return co_await dispatch(obj, cmd);
  co_return co_await follow(obj, cmd, std::move(status));
}

asio::awaitable<ReconcileResult> Reconciler::dispatch(const kube::Object& obj, const Command& cmd) {
  const std::string key = cmd.meta.ns + "/" + cmd.meta.name;
  // A new generation supersedes whatever the previous one still runs.
  stop_trackers_of(key, cmd.meta.generation, true);

  std::vector<std::string> targets;
  for (const auto& node : nodes_.list()) {
    auto info = parse_node_info(*node);
    if (info && matches(cmd.spec.selector, *info)) targets.push_back(info->name);
  }
  std::sort(targets.begin(), targets.end());
  const auto addresses = agent_addresses_now();
  const std::string now = now_rfc3339();

  CommandStatus s;
  s.observed_generation = cmd.meta.generation;
  s.start_time = now;
  s.output_bytes_per_node = output_budget_per_node(targets.size());
  for (const auto& node : targets) {
    NodeStatus n;
    n.name = node;
    if (addresses.contains(node)) {
      n.phase = Phase::running;
      n.reason = reason::dispatched;
      n.execution_id = execution_id(cmd.meta.uid, cmd.meta.generation, node);
    } else {
      n.phase = Phase::failed;
      n.reason = reason::agent_not_found;
      n.message = "Agent not found for node " + node + " (skipping)";
      n.end_time = now;
    }
    s.nodes.push_back(std::move(n));
  }
  recount(s);
  if (s.finished()) s.completion_time = now;
  s.message = summary_message(s);

  // Durable first: once this write succeeds, these nodes count as dispatched for this generation, whatever
  // happens to this process.
  if (auto r = co_await write_status(obj, cmd.meta, s); r.kind != ReconcileResult::Kind::done) co_return r;

  log_.info("dispatching command",
            {{"command", key}, {"uid", cmd.meta.uid}, {"generation", cmd.meta.generation},
             {"targeted", s.targeted}, {"dispatched", s.running}, {"command_text", cmd.spec.command}});
  if (targets.empty()) co_await post_event(cmd.meta, make_no_matching_nodes_event(cmd.spec.command));
  for (const auto& n : s.nodes) {
    if (n.reason == reason::agent_not_found) {
      co_await post_event(cmd.meta, make_agent_not_found_event(cmd.meta, n.name));
      continue;
    }
    TrackedExecution run;
    run.command_key = key;
    run.node = n.name;
    run.address = addresses.at(n.name);
    run.execution_id = n.execution_id;
    run.timeout_seconds = cmd.spec.timeout_seconds;
    run.start.set_execution_id(n.execution_id);
    run.start.set_command(cmd.spec.command);
    run.start.set_timeout_seconds(cmd.spec.timeout_seconds);
    run.start.set_max_output_bytes(options_.max_output_bytes);
    auto* origin = run.start.mutable_origin();
    origin->set_namespace_(cmd.meta.ns);
    origin->set_name(cmd.meta.name);
    origin->set_uid(cmd.meta.uid);
    origin->set_generation(cmd.meta.generation);
    start_tracker(std::move(run), cmd.meta.generation);
  }
  co_return ReconcileResult::done();
}

asio::awaitable<ReconcileResult> Reconciler::follow(const kube::Object& obj, const Command& cmd,
                                                    CommandStatus status) {
  const std::string key = cmd.meta.ns + "/" + cmd.meta.name;
  if (status.finished()) {
    stop_trackers_of(key, std::nullopt, false);
    co_return ReconcileResult::done();
  }
  std::optional<std::map<std::string, std::string>> addresses;
  std::vector<std::pair<std::string, NodeOutcome>> newly_finished;
  for (auto& n : status.nodes) {
    if (n.finished()) continue;
    if (auto it = results_.find(n.execution_id); it != results_.end() && it->second.command_key == key) {
      record_result(n, it->second.result, status.output_bytes_per_node);
      newly_finished.emplace_back(n.name, it->second.result.outcome);
      continue;
    }
    if (trackers_.contains(n.execution_id) || recorded_.contains(n.execution_id)) continue;
    // Dispatched before this process started (or its tracker was stopped): collect, never start again.
    if (!addresses) addresses = agent_addresses_now();
    auto addr = addresses->find(n.name);
    if (addr == addresses->end()) {
      TrackerResult gone{agent_error_outcome("the agent of node " + n.name +
                                             " no longer has a ready endpoint; its result cannot be collected"),
                         std::nullopt, std::string(reason::agent_unreachable)};
      record_result(n, gone, status.output_bytes_per_node);
      newly_finished.emplace_back(n.name, gone.outcome);
      continue;
    }
    log_.info("resuming wait for dispatched execution",
              {{"command", key}, {"node", n.name}, {"execution_id", n.execution_id}});
    TrackedExecution run;
    run.command_key = key;
    run.node = n.name;
    run.address = addr->second;
    run.execution_id = n.execution_id;
    run.resume = true;
    run.timeout_seconds = cmd.spec.timeout_seconds;
    start_tracker(std::move(run), cmd.meta.generation);
  }
  if (newly_finished.empty()) co_return ReconcileResult::done();

  recount(status);
  if (status.finished()) status.completion_time = now_rfc3339();
  status.message = summary_message(status);
  if (auto r = co_await write_status(obj, cmd.meta, status); r.kind != ReconcileResult::Kind::done) co_return r;

  for (const auto& [node, outcome] : newly_finished) {
    const std::string id = execution_id(cmd.meta.uid, cmd.meta.generation, node);
    results_.erase(id);
    recorded_[id] = key;
    co_await post_event(cmd.meta, make_node_event(cmd.meta, cmd.spec.command, node, outcome));
  }
  if (status.finished()) {
    log_.info("command finished", {{"command", key}, {"generation", cmd.meta.generation},
                                   {"phase", to_string(*status.phase)}, {"succeeded", status.succeeded},
                                   {"failed", status.failed}});
  }
  co_return ReconcileResult::done();
}

asio::awaitable<ReconcileResult> Reconciler::finalize(const kube::Object& obj, const CommandMeta& meta) {
  const std::string key = meta.ns + "/" + meta.name;
  if (!meta.has_finalizer(kFinalizer)) {
    stop_trackers_of(key, std::nullopt, true);
    forget(key);
    co_return ReconcileResult::done();
  }
  const CommandStatus status = parse_status(*obj);
  if (status.observed_generation == meta.generation && !status.finished())
    co_await cancel_on_agents(meta, status);
  stop_trackers_of(key, std::nullopt, true);

  rapidjson::Document patch(rapidjson::kObjectType);
  auto& a = patch.GetAllocator();
  rapidjson::Value md(rapidjson::kObjectType), fins(rapidjson::kArrayType);
  for (const auto& f : meta.finalizers)
    if (f != kFinalizer) fins.PushBack(rapidjson::Value(f.c_str(), a), a);
  md.AddMember("resourceVersion", rapidjson::Value(meta.resource_version.c_str(), a), a);
  md.AddMember("finalizers", fins, a);
  patch.AddMember("metadata", md, a);
  auto r = co_await api_.request(verb::patch, command_path(meta), kube::serialize(patch),
                                 "application/merge-patch+json");
  if (!r) {
    log_.warn("could not remove finalizer", {{"command", key}, {"error", r.error().message}});
    co_return ReconcileResult::retry();
  }
  if (r->status == 409) co_return ReconcileResult::after(kConflictRetry);
  if (!kube::is_success(*r) && r->status != 404) {
    log_.warn("could not remove finalizer", {{"command", key}, {"error", kube::describe_response(*r)}});
    co_return ReconcileResult::retry();
  }
  forget(key);
  log_.info("command deleted; finalizer removed", {{"command", key}});
  co_return ReconcileResult::done();
}

asio::awaitable<ReconcileResult> Reconciler::add_finalizer(const kube::Object& obj, const CommandMeta& meta) {
  (void)obj;
  rapidjson::Document patch(rapidjson::kObjectType);
  auto& a = patch.GetAllocator();
  rapidjson::Value md(rapidjson::kObjectType), fins(rapidjson::kArrayType);
  for (const auto& f : meta.finalizers) fins.PushBack(rapidjson::Value(f.c_str(), a), a);
  fins.PushBack(rapidjson::Value(std::string(kFinalizer).c_str(), a), a);
  md.AddMember("resourceVersion", rapidjson::Value(meta.resource_version.c_str(), a), a);
  md.AddMember("finalizers", fins, a);
  patch.AddMember("metadata", md, a);
  auto r = co_await api_.request(verb::patch, command_path(meta), kube::serialize(patch),
                                 "application/merge-patch+json");
  const std::string key = meta.ns + "/" + meta.name;
  if (!r) {
    log_.warn("could not add finalizer", {{"command", key}, {"error", r.error().message}});
    co_return ReconcileResult::retry();
  }
  if (r->status == 409) co_return ReconcileResult::after(kConflictRetry);
  if (r->status == 404) co_return ReconcileResult::done();
  if (!kube::is_success(*r)) {
    log_.warn("could not add finalizer", {{"command", key}, {"error", kube::describe_response(*r)}});
    co_return ReconcileResult::retry();
  }
  // The watch brings the updated object back and the key is reconciled again.
  co_return ReconcileResult::done();
}

asio::awaitable<ReconcileResult> Reconciler::report_invalid_spec(const kube::Object& obj, const CommandMeta& meta,
                                                                 const std::string& problem) {
  CommandStatus s = parse_status(*obj);
  if (s.observed_generation == meta.generation && s.finished()) co_return ReconcileResult::done();
  s = CommandStatus{};
  s.phase = Phase::failed;
  s.observed_generation = meta.generation;
  s.start_time = s.completion_time = now_rfc3339();
  s.message = "invalid spec, nothing ran: " + problem;
  if (auto r = co_await write_status(obj, meta, s); r.kind != ReconcileResult::Kind::done) co_return r;
  log_.warn("command has an invalid spec", {{"command", meta.ns + "/" + meta.name}, {"error", problem}});
  co_await post_event(meta, make_invalid_spec_event(problem));
  co_return ReconcileResult::done();
}

asio::awaitable<ReconcileResult> Reconciler::write_status(const kube::Object& obj, const CommandMeta& meta,
                                                          const CommandStatus& status) {
  rapidjson::Document doc;
  doc.CopyFrom(*obj, doc.GetAllocator());
  rapidjson::Document st;
  st.Parse(status_json(status).c_str());
  doc.RemoveMember("status");
  doc.AddMember("status", rapidjson::Value(st, doc.GetAllocator()), doc.GetAllocator());
  const std::string key = meta.ns + "/" + meta.name;
  auto r = co_await api_.request(verb::put, command_path(meta) + "/status", kube::serialize(doc));
  if (!r) {
    log_.warn("could not write status", {{"command", key}, {"error", r.error().message}});
    co_return ReconcileResult::retry();
  }
  if (r->status == 409) {
    log_.debug("status write conflicted; will re-read", {{"command", key}});
    co_return ReconcileResult::after(kConflictRetry);
  }
  if (r->status == 404) co_return ReconcileResult::after(kConflictRetry);
  if (!kube::is_success(*r)) {
    log_.error("could not write status", {{"command", key}, {"error", kube::describe_response(*r)}});
    co_return ReconcileResult::retry();
  }
  co_return ReconcileResult::done();
}

asio::awaitable<void> Reconciler::post_event(const CommandMeta& meta, const EventSpec& event) {
  auto r = co_await api_.request(verb::post, "/api/v1/namespaces/" + meta.ns + "/events",
                                 event_json(meta, event, std::chrono::system_clock::now()));
  if (!r) {
    log_.warn("could not record event", {{"command", meta.ns + "/" + meta.name}, {"reason", event.reason},
                                         {"error", r.error().message}});
  } else if (!kube::is_success(*r)) {
    log_.warn("could not record event", {{"command", meta.ns + "/" + meta.name}, {"reason", event.reason},
                                         {"error", kube::describe_response(*r)}});
  }
}

asio::awaitable<void> Reconciler::cancel_on_agents(const CommandMeta& meta, const CommandStatus& status) {
  const auto addresses = agent_addresses_now();
  auto pending = std::make_shared<std::size_t>(0);
  auto all_done = std::make_shared<asio::steady_timer>(ex_, std::chrono::steady_clock::time_point::max());
  for (const auto& n : status.nodes) {
    if (n.finished() || n.execution_id.empty()) continue;
    std::string address;
    if (auto t = trackers_.find(n.execution_id); t != trackers_.end()) address = t->second.address;
    else if (auto a = addresses.find(n.name); a != addresses.end()) address = a->second;
    if (address.empty()) continue;
    ++*pending;
    asio::co_spawn(
        ex_,
        [this, address, id = n.execution_id, key = meta.ns + "/" + meta.name,
         alive = alive_]() -> asio::awaitable<void> {
          auto r = co_await agents_.cancel(address, id, options_.cancel_deadline);
          if (!*alive) co_return;
          if (r) log_.info("canceled execution", {{"command", key}, {"execution_id", id}, {"agent", address}});
          else log_.warn("could not cancel execution", {{"command", key}, {"execution_id", id},
                                                        {"agent", address}, {"error", r.error().message}});
        },
        [pending, all_done](std::exception_ptr) {
          if (--*pending == 0) all_done->cancel();
        });
  }
  if (*pending > 0) co_await all_done->async_wait(asio::as_tuple(asio::use_awaitable));
}

namespace {

// Asks the agent to stop a superseded execution. A plain function, not a capturing lambda: its arguments live
// in the coroutine frame (a lambda's captures would die with the temporary closure at the first suspension).
asio::awaitable<void> cancel_on(AgentClient& agents, std::string address, std::string id,
                                std::chrono::milliseconds deadline, std::shared_ptr<bool> alive, Logger& log) {
  auto r = co_await agents.cancel(address, id, deadline);
  if (*alive && !r)
    log.warn("could not cancel superseded execution",
             {{"execution_id", id}, {"agent", address}, {"error", r.error().message}});
}

// Whether a tracker ended with an exception because it was stopped: Asio throws operation_aborted into a
// coroutine whose cancellation slot fired while it was suspended.
bool stopped_by_cancellation(std::exception_ptr e) {
  try {
    std::rethrow_exception(e);
  } catch (const boost::system::system_error& error) {
    return error.code() == asio::error::operation_aborted;
  } catch (...) {
    return false;
  }
}

}  // namespace

void Reconciler::start_tracker(TrackedExecution run, std::int64_t generation) {
  auto signal = std::make_shared<asio::cancellation_signal>();
  const std::string id = run.execution_id;
  const std::string key = run.command_key;
  trackers_[id] = Tracker{key, generation, run.node, run.address, signal};
  asio::co_spawn(ex_, track_execution(agents_, std::move(run), options_.tracker, log_),
                 asio::bind_cancellation_slot(
                     signal->slot(), [this, alive = alive_, id, key, generation, signal](
                                         std::exception_ptr e, std::optional<TrackerResult> result) {
                       if (!*alive) return;
                       if (auto it = trackers_.find(id); it != trackers_.end() && it->second.cancel == signal)
                         trackers_.erase(it);
                       if (e && stopped_by_cancellation(e)) return;  // superseded, deleted or shutting down
                       if (e) {
                         try {
                           std::rethrow_exception(e);
                         } catch (const std::exception& ex) {
                           log_.error("execution tracker failed", {{"execution_id", id}, {"error", ex.what()}});
                         }
                         queue_.add(key);
                         return;
                       }
                       if (!result) return;  // stopped: superseded, deleted or shutting down
                       results_.insert_or_assign(id, Delivered{key, generation, std::move(*result)});
                       queue_.add(key);
                     }));
}

void Reconciler::stop_trackers_of(const std::string& key, std::optional<std::int64_t> keep_generation,
                                  bool cancel_on_agent) {
  for (auto it = trackers_.begin(); it != trackers_.end();) {
    const Tracker& t = it->second;
    if (t.command_key != key || (keep_generation && t.generation == *keep_generation)) {
      ++it;
      continue;
    }
    t.cancel->emit(asio::cancellation_type::terminal);
    if (cancel_on_agent) {
      asio::co_spawn(ex_, cancel_on(agents_, t.address, it->first, options_.cancel_deadline, alive_, log_),
                     [](std::exception_ptr) {});
    }
    it = trackers_.erase(it);
  }
  for (auto it = results_.begin(); it != results_.end();) {
    if (it->second.command_key == key && (!keep_generation || it->second.generation != *keep_generation))
      it = results_.erase(it);
    else
      ++it;
  }
}

void Reconciler::forget(const std::string& key) {
  std::erase_if(recorded_, [&](const auto& kv) { return kv.second == key; });
}

void Reconciler::stop_trackers() {
  for (auto& [id, t] : trackers_) t.cancel->emit(asio::cancellation_type::terminal);
  trackers_.clear();
}

std::map<std::string, std::string> Reconciler::agent_addresses_now() const {
  const auto slices = agent_slices_.list();
  std::vector<const rapidjson::Value*> values;
  values.reserve(slices.size());
  for (const auto& s : slices) values.push_back(s.get());
  return agent_addresses(values, options_.default_agent_port);
}

}  // namespace jarvis::controller
