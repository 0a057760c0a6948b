#include "controller/reconciler.hpp"

#include "common/json.hpp"
#include "common/limits.hpp"
#include "kube/object.hpp"

namespace jarvis::controller {

namespace asio = boost::asio;

namespace {

std::string_view result_name(const ReconcileResult& r) {
  switch (r.kind) {
    case ReconcileResult::Kind::done: return "done";
    case ReconcileResult::Kind::retry: return "retry";
    case ReconcileResult::Kind::requeue_after: return "requeue";
  }
  return "done";
}

// How long a superseded or deleted execution may still be running: its timeout, plus the agent's kill grace.
std::chrono::milliseconds cancel_horizon(const std::optional<CommandSpec>& spec) {
  const std::uint32_t timeout = spec ? spec->timeout_seconds : limits::max_timeout_seconds;
  return std::chrono::seconds(timeout) + std::chrono::minutes(1);
}

}  // namespace

Reconciler::Reconciler(asio::any_io_executor executor, CommandApi& api, AgentApi& agents, CommandLookup commands,
                       ClusterLookup cluster, Requeue requeue, ReconcilerOptions options, Logger& log)
    : api_(api),
      commands_(std::move(commands)),
      cluster_(std::move(cluster)),
      options_(options),
      log_(log),
      trackers_(executor, agents, options.tracker, log, [this](const std::string& key) { on_result(key); },
                options.metrics),
      canceller_(executor, agents, options.cancel, log),
      events_(executor, api, options.events, log,
              [this](const std::string& key, std::chrono::milliseconds delay) {
                requeue_(key, std::max<std::chrono::steady_clock::duration>(delay, spacing_left(key)));
              },
              options.metrics),
      requeue_(std::move(requeue)) {}

asio::awaitable<ReconcileResult> Reconciler::reconcile(const std::string& key) {
  const kube::Object object = commands_(key);
  if (object) {
    // The cache still holds the version our last status write replaced: planning on it would only earn a 409.
    // The watch brings our write (or anything newer) and queues the key again.
    const auto over = written_over_.find(key);
    if (over != written_over_.end() && over->second == kube::resource_version(*object)) {
      log_.debug("cache behind our status write; waiting for the watch", {{"command", key}});
      co_return ReconcileResult::done();
    }
  }
  Plan decided =
      plan(PlanInput{key, object.get(), &cluster_(), &trackers_, std::chrono::system_clock::now(), &events_});
  const ReconcileResult r = co_await carry_out(key, object, std::move(decided));
  if (log_.enabled(LogLevel::debug)) {
    log_.debug("reconciled", {{"command", key}, {"resource_version", object ? kube::resource_version(*object) : ""},
                              {"result", result_name(r)}});
  }
  co_return r;
}

asio::awaitable<ReconcileResult> Reconciler::carry_out(const std::string& key, const kube::Object& object,
                                                       Plan p) {
  switch (p.action) {
    case Plan::Action::nothing:
      if (!p.problem.empty()) {
        log_.error("ignoring malformed Command until it changes", {{"command", key}, {"error", p.problem}});
        co_return ReconcileResult::terminal();
      }
      if (p.stop_trackers) {
        trackers_.stop(key);
        forget(key);
      }
      if (p.requeue_after) co_return ReconcileResult::after(*p.requeue_after);
      co_return ReconcileResult::done();

    case Plan::Action::expire:
      co_return co_await expire(key, p.meta);

    case Plan::Action::forget:
      trackers_.stop(key);
      forget(key);
      co_return ReconcileResult::done();

    case Plan::Action::add_finalizer: {
      if (auto added = co_await api_.set_finalizer(p.meta, true); !added)
        co_return on_write_failure(added.error(), "add the finalizer", key, log_);
      co_return ReconcileResult::done();  // the watch brings the object back and it is reconciled again
    }

    case Plan::Action::finalize: {
      co_await canceller_.cancel_and_wait(key, p.cancels, cancel_horizon(p.spec));
      trackers_.stop(key);
      if (auto removed = co_await api_.set_finalizer(p.meta, false); !removed)
        co_return on_write_failure(removed.error(), "remove the finalizer", key, log_);
      forget(key);
      log_.info("command deleted; finalizer removed", {{"command", key}});
      co_return ReconcileResult::done();
    }

    case Plan::Action::update: break;
  }

  const CommandMeta& meta = p.meta;
  if (p.supersede_all_but) {
    trackers_.stop(key, *p.supersede_all_but);
    trackers_.forget(key);
  }
  if (!p.problem.empty()) log_.warn("command has an invalid spec", {{"command", key}, {"error", p.problem}});
  if (p.status) {
    if (const auto wait = status_wait(key, p); wait > std::chrono::steady_clock::duration::zero())
      co_return ReconcileResult::after(std::chrono::ceil<std::chrono::milliseconds>(wait));  // re-planned then
    // Durable first: once this write succeeds, its Dispatched nodes count as dispatched for this generation
    // and its finished nodes as reported, whatever happens to this process.
    if (auto written = co_await api_.write_status(*object, meta, *p.status); !written)
      co_return on_write_failure(written.error(), "write status", key, log_);
    last_status_write_[key] = LastWrite{std::chrono::steady_clock::now(), spacing(*p.status)};
    written_over_[key] = std::string(kube::resource_version(*object));
  }
  for (const auto& id : p.recorded) trackers_.mark_recorded(key, id);
  events_.forget_events(meta.ns, p.events_dropped);
  if (!p.cancels.empty()) canceller_.cancel(key, p.cancels, cancel_horizon(p.spec));

  if (p.dispatching) {
    log_.info("dispatching command", {{"command", key}, {"uid", meta.uid}, {"generation", meta.generation},
                                      {"targeted", p.status->targeted}, {"dispatched", p.executions.size()},
                                      {"superseded_cancels", p.cancels.size()}});
  }
  if (!p.executions.empty()) {
    const Command command{meta, *p.spec};
    for (const auto& order : p.executions) {
      if (order.resume)
        log_.info("resuming dispatched execution", {{"command", key}, {"node", order.node},
                                                    {"execution_id", order.execution_id}});
      TrackedExecution run;
      run.command_key = key;
      run.node = order.node;
      run.address = order.address;
      run.execution_id = order.execution_id;
      run.timeout_seconds = command.spec.timeout_seconds;
      run.start = start_request(command, order, options_.max_output_bytes, p.dispatched_at);
      trackers_.start(meta.generation, std::move(run));
    }
  }
  // Their results are in the status now; the next reconcile of this Command does not wait for them.
  events_.post(key, meta, std::move(p.events));
  if (p.status && p.finishing) {
    log_.info("command finished", {{"command", key}, {"generation", meta.generation},
                                   {"phase", to_string(*p.status->phase)}, {"succeeded", p.status->succeeded},
                                   {"failed", p.status->failed}});
  }
  co_return ReconcileResult::done();
}

asio::awaitable<ReconcileResult> Reconciler::expire(const std::string& key, const CommandMeta& meta) {
  // Decided on the cache; re-read from the API server so a Command changed meanwhile (a new run) is not deleted.
  auto fresh = co_await api_.read(meta);
  if (!fresh) co_return on_write_failure(fresh.error(), "read the Command for its TTL", key, log_);
  if (!*fresh) co_return ReconcileResult::done();
  const auto uid = string_at(**fresh, {"metadata", "uid"});
  if (!uid || *uid != meta.uid) co_return ReconcileResult::done();  // another Command of that name now
  const TtlCheck check = ttl_check(**fresh, std::chrono::system_clock::now());
  if (!check.due) co_return check.wait ? ReconcileResult::after(*check.wait) : ReconcileResult::done();
  if (auto removed = co_await api_.remove(meta); !removed)
    co_return on_write_failure(removed.error(), "delete the Command after ttlSecondsAfterFinished", key, log_);
  log_.info("command deleted: ttlSecondsAfterFinished passed", {{"command", key}, {"uid", meta.uid}});
  co_return ReconcileResult::done();
}

std::chrono::steady_clock::duration Reconciler::spacing(const CommandStatus& status) const {
  return std::min<std::chrono::steady_clock::duration>(
      options_.status_spacing_per_node * static_cast<std::int64_t>(status.targeted), options_.status_spacing_max);
}

std::chrono::steady_clock::duration Reconciler::spacing_left(const std::string& key) const {
  const auto last = last_status_write_.find(key);
  if (last == last_status_write_.end()) return {};
  const auto left = last->second.at + last->second.spacing - std::chrono::steady_clock::now();
  return std::max(left, std::chrono::steady_clock::duration::zero());
}

std::chrono::steady_clock::duration Reconciler::status_wait(const std::string& key, const Plan& p) const {
  if (p.dispatching || !p.executions.empty() || !p.cancels.empty() || p.supersede_all_but) return {};
  return spacing_left(key);
}

void Reconciler::on_result(const std::string& key) { requeue_(key, spacing_left(key)); }

void Reconciler::forget(const std::string& key) {
  trackers_.forget(key);
  events_.forget_command(key);
  canceller_.forget(key);
  last_status_write_.erase(key);
  written_over_.erase(key);
}

void Reconciler::stop() {
  trackers_.stop_all();
  canceller_.stop_all();
}

}  // namespace jarvis::controller
