#include "controller/controller.hpp"

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "common/coro.hpp"
#include "common/duration.hpp"
#include "controller/agent_client.hpp"
#include "controller/api_reachability.hpp"
#include "controller/certificate_keeper.hpp"
#include "controller/controller_metrics.hpp"
#include "controller/instrumented_apis.hpp"
#include "controller/command_writer.hpp"
#include "controller/node_selector.hpp"
#include "controller/agent_endpoints.hpp"
#include "controller/leader_elector.hpp"
#include "controller/leader_gate.hpp"
#include "controller/reconcile_worker.hpp"
#include "controller/reconciler.hpp"
#include "controller/work_queue.hpp"
#include "jarvis_version.hpp"
#include "kube/client.hpp"
#include "kube/cluster_config.hpp"
#include "kube/informer.hpp"
#include "metrics/process_metrics.hpp"
#include "observability/heartbeat.hpp"
#include "tls/grpc_credentials.hpp"

namespace jarvis::controller {

namespace asio = boost::asio;

void add_flags(CLI::App& app, ControllerOptions& o) {
  const char* g = "Controller";
  app.add_option("--kubeconfig", o.kubeconfig,
                 "controller: kubeconfig file (current context; token, tokenFile, client certificate or credential "
                 "exec plugin); default the files of $KUBECONFIG merged as kubectl does, else the in-cluster "
                 "service account")
      ->group(g);
  app.add_option("--namespace", o.namespaces,
                 "controller: namespace whose Commands are run (repeat or comma-separate); default all")
      ->group(g)
      ->delimiter(',')
      ->envname("JARVIS_NAMESPACES");
  app.add_option("--agent-namespace", o.agent_namespace,
                 "controller: namespace of the agent Service and of the TLS Secrets jarvis-ca and jarvis-agent-tls")
      ->group(g)
      ->capture_default_str()
      ->envname("POD_NAMESPACE");
  app.add_option("--agent-service", o.agent_service,
                 "controller: agent Service whose EndpointSlices locate each node's agent")
      ->group(g)
      ->capture_default_str();
  app.add_option("--agent-port", o.agent_port, "controller: agent port when an EndpointSlice names none")
      ->group(g)
      ->capture_default_str()
      ->check(CLI::Range(1, 65535));
  // A client-side rate limit: sustained requests per second and burst.
  const auto add_rate_limit = [&](const std::string& name, double& qps, int& burst, const std::string& what,
                                  const std::string& burst_what) {
    app.add_option("--" + name + "-qps", qps, "controller: sustained " + what)
        ->group(g)
        ->capture_default_str()
        ->check(CLI::Range(0.1, 10000.0));
    app.add_option("--" + name + "-burst", burst, "controller: " + burst_what)
        ->group(g)
        ->capture_default_str()
        ->check(CLI::Range(1, 100000));
  };
  add_rate_limit("kube-api", o.kube_api_qps, o.kube_api_burst,
                 "API requests per second (all but Event creations, see --kube-api-event-qps)", "API request burst");
  add_rate_limit("kube-api-event", o.kube_api_event_qps, o.kube_api_event_burst,
                 "Event creations per second (a budget of their own, beside --kube-api-qps)",
                 "Event creation burst");
  app.add_option("--workers", o.workers, "controller: Commands reconciled concurrently")
      ->group(g)
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  app.add_option("--max-concurrent-starts", o.max_concurrent_starts,
                 "controller: Start calls to agents in flight at once; the others wait their turn (each open "
                 "agent connection costs about 25 KiB)")
      ->group(g)
      ->capture_default_str()
      ->check(CLI::Range(1, 10000));
  app.add_option("--agent-output-bytes", o.max_output_bytes,
                 "controller: output bytes asked of each agent per node (events show up to 16 KiB of it)")
      ->group(g)
      ->capture_default_str()
      ->check(CLI::Range(std::uint64_t{1024}, std::uint64_t{1} << 20));
  app.add_option("--agent-keepalive-time", o.agent_keepalive_time_seconds,
                 "controller: seconds between HTTP/2 pings (and TCP keepalive probes) on each agent connection")
      ->group(g)
      ->capture_default_str()
      ->check(CLI::Range(1u, 86400u));
  app.add_option("--agent-keepalive-timeout", o.agent_keepalive_timeout_seconds,
                 "controller: seconds an agent gets to answer a ping; then its connection is dropped and the calls "
                 "on it fail (UNAVAILABLE) instead of waiting for their deadlines")
      ->group(g)
      ->capture_default_str()
      ->check(CLI::Range(1u, 3600u));
  app.add_option("--cert-lifetime", o.cert_lifetime,
                 "controller: lifetime of the agent and controller certificates (e.g. 2160h, 90d, 30m); renewed "
                 "when a third is left. The CA (Secret jarvis-ca) lives 10 years")
      ->group(g)
      ->capture_default_str()
      ->check([](const std::string& text) -> std::string {
        const auto d = parse_duration(text);
        if (!d) return "not a duration like 2160h, 90d, 1h30m or 45s";
        if (*d < std::chrono::seconds(10)) return "at least 10s";
        if (*d > std::chrono::seconds(3650LL * 86400)) return "at most 3650d (the CA's lifetime)";
        return {};
      });

  app.add_flag("--leader-elect", o.leader_elect,
               "controller: run as one of several replicas; only the holder of the Lease <agent-namespace>/"
               "jarvis-controller reconciles, writes and starts anything, the others keep their caches warm")
      ->group(g);
  const auto add_period = [&](const std::string& name, std::chrono::milliseconds& value, const std::string& what) {
    app.add_option_function<std::string>(
           "--" + name,
           [&value](const std::string& text) { value = *parse_duration_ms(text); },
           "controller: " + what + " (e.g. 15s, 500ms)")
        ->group(g)
        ->default_str(std::to_string(value.count() / 1000) + "s")
        ->check([](const std::string& text) -> std::string {
          const auto d = parse_duration_ms(text);
          if (!d || *d <= std::chrono::milliseconds::zero()) return "not a positive duration like 15s or 500ms";
          return {};
        });
  };
  add_period("leader-elect-lease-duration", o.leader_election.lease_duration,
             "written into the Lease while this process holds it: how long standbys wait after they last saw it "
             "renewed before they take it");
  add_period("leader-elect-renew-deadline", o.leader_election.renew_deadline,
             "how long the leader keeps acting without a successful renewal; then it stops and exits 1");
  add_period("leader-elect-retry-period", o.leader_election.retry_period,
             "how often the leader renews the Lease; candidates try every 1 to 2.2 times it (jittered)");
  app.add_option("--pod-name", o.pod_name,
                 "controller: this pod's name (downward API), the start of its leader-election identity; default "
                 "the host name")
      ->group(g)
      ->envname("POD_NAME");
}

namespace {

kube::ResourceRef resource(std::string list_path, std::string label_selector = {}) {
  kube::ResourceRef ref;
  ref.list_path = std::move(list_path);
  ref.label_selector = std::move(label_selector);
  return ref;
}

ReconcilerOptions reconciler_options(const ControllerOptions& o, ControllerMetrics& metrics) {
  ReconcilerOptions r;
  r.max_output_bytes = o.max_output_bytes;
  r.metrics = &metrics;
  return r;
}

// The controller re-reads its own --tls-dir this often; it writes the files itself, so renewals apply within
// seconds.
constexpr unsigned own_tls_refresh_seconds = 2;
// After SIGTERM, what is still in flight (a request mid-retry) gets this long to notice before the process
// stops anyway.
constexpr auto shutdown_deadline = std::chrono::seconds(10);
// An agent channel with no call for this long is closed (AgentClient::close_idle_channels): the calls of one
// execution (Start, then Wait after Wait) follow each other closely and share it; a finished one's channel goes
// soon, so the controller's memory follows the executions in flight, not the fleet. The next Command to that
// node reconnects (a TLS handshake: about 0.4 ms of public-key CPU on each side, by `openssl speed`).
constexpr auto idle_agent_channel = std::chrono::milliseconds(250);
// How often idle channels are looked for. In milliseconds: seconds(1) / 4 is 0 s, a busy loop.
constexpr auto idle_agent_channel_sweep = idle_agent_channel / 5;
static_assert(idle_agent_channel_sweep > std::chrono::milliseconds::zero());

tls::TransportSecurity transport_security(const ControllerOptions& o) {
  return tls::TransportSecurity{
      .insecure = o.insecure, .directory = o.tls_dir, .refresh_interval_seconds = own_tls_refresh_seconds};
}

CertificateSettings certificate_settings(const ControllerOptions& o) {
  CertificateSettings c;
  c.namespace_name = o.agent_namespace;
  c.tls_dir = o.tls_dir;
  c.certificate_lifetime = parse_duration(o.cert_lifetime).value_or(c.certificate_lifetime);
  return c;
}

// Counts every attempt in rest_client_requests_total{code,method,host} and tells /readyz whether it was answered.
std::function<void(boost::beast::http::verb, unsigned)> observe_requests(ControllerMetrics& metrics,
                                                                         ApiReachability& reachability,
                                                                         std::string host) {
  return [&metrics, &reachability, host = std::move(host)](boost::beast::http::verb method, unsigned status) {
    reachability.observe(status != 0);
    const std::string code = status == 0 ? "<error>" : std::to_string(status);
    metrics.rest_client_requests.with({code, boost::beast::http::to_string(method), host}).inc();
  };
}

// client-go's `host` label: the API server's host and port, as the kubeconfig names it.
std::string api_host(const std::string& server) {
  std::string_view s = server;
  if (const auto scheme = s.find("://"); scheme != std::string_view::npos) s.remove_prefix(scheme + 3);
  return std::string(s.substr(0, s.find('/')));
}

kube::ClientOptions client_options(const ControllerOptions& o, ControllerMetrics& metrics,
                                   ApiReachability& reachability, const std::string& server) {
  kube::ClientOptions c;
  c.qps = o.kube_api_qps;
  c.burst = o.kube_api_burst;
  c.on_attempt = observe_requests(metrics, reachability, api_host(server));
  return c;
}

kube::ClientOptions event_client_options(const ControllerOptions& o, ControllerMetrics& metrics,
                                         ApiReachability& reachability, const std::string& server) {
  kube::ClientOptions c;
  c.on_attempt = observe_requests(metrics, reachability, api_host(server));
  c.qps = o.kube_api_event_qps;
  c.burst = o.kube_api_event_burst;
  c.max_idle_connections = EventPosterOptions{}.concurrency;  // one per event in flight, kept open
  return c;
}

// The Lease has a client of its own: a renewal never queues behind a fleet's worth of status writes.
kube::ClientOptions lease_client_options() {
  kube::ClientOptions c;
  c.qps = 10;
  c.burst = 10;
  c.max_idle_connections = 1;
  return c;
}

LeaderElectorSettings elector_settings(const ControllerOptions& o) {
  return LeaderElectorSettings{.namespace_name = o.agent_namespace,
                               .identity = make_leader_identity(o.pod_name),
                               .timing = o.leader_election};
}

struct Controller {
  Controller(asio::io_context& io, const ControllerOptions& o, kube::ClusterConfig config, ControllerMetrics& metrics,
             Logger& log, AgentConnector::OnRefused on_tls_refused)
      : log(log),
        metrics(metrics),
        default_agent_port(o.agent_port),
        api(io.get_executor(), config, client_options(o, metrics, reachability, config.server), log),
        events_api(io.get_executor(), config, event_client_options(o, metrics, reachability, config.server), log),
        lease_api(io.get_executor(), std::move(config), lease_client_options(), log),
        elector(o.leader_elect ? std::make_unique<LeaderElector>(lease_api, elector_settings(o), log) : nullptr),
        nodes(api, resource("/api/v1/nodes"), log),
        agent_slices(api,
                     resource("/apis/discovery.k8s.io/v1/namespaces/" + o.agent_namespace + "/endpointslices",
                              "kubernetes.io/service-name=" + o.agent_service),
                     log),
        queue(io.get_executor(), RetryBackoff{}, &metrics.workqueue),
        certificates(api, certificate_settings(o), log),
        agents(io.get_executor(), log, transport_security(o), o.max_concurrent_starts, std::move(on_tls_refused),
               AgentKeepalive{.time = std::chrono::seconds(o.agent_keepalive_time_seconds),
                              .timeout = std::chrono::seconds(o.agent_keepalive_timeout_seconds)}),
        measured_agents(agents, metrics),
        writer(api, events_api),
        measured_writer(writer, metrics),
        leader_writer(measured_writer, [this] { return may_act(); }),
        leader_agents(measured_agents, [this] { return may_act(); }),
        reconciler(io.get_executor(), leader_writer, leader_agents,
                   [this](const std::string& key) { return lookup(key); },
                   [this]() -> const ClusterView& { return cluster_view(); },
                   [this](const std::string& key, std::chrono::steady_clock::duration delay) {
                     if (delay > std::chrono::steady_clock::duration::zero())
                       queue.add_after(key, delay);
                     else
                       queue.add(key);
                   },
                   reconciler_options(o, metrics), log) {
    if (o.namespaces.empty()) {
      commands.push_back(std::make_unique<kube::Informer>(api, resource("/apis/jarvis.io/v1/commands"), log));
    } else {
      for (const auto& ns : o.namespaces)
        commands.push_back(std::make_unique<kube::Informer>(
            api, resource("/apis/jarvis.io/v1/namespaces/" + ns + "/commands"), log));
    }
    for (auto& c : commands) c->on_change([this](const std::string& key) { queue.add(key); });
    nodes.on_change([this](const std::string&) { cluster_stale = true; });
    agent_slices.on_change([this](const std::string& key) {
      cluster_stale = true;
      const auto obj = agent_slices.store().get(key);
      this->log.debug("agent endpoints changed",
                      {{"endpoint_slice", key}, {"resource_version", obj ? kube::resource_version(*obj) : ""}});
    });
  }

  // Without --leader-elect this process is the only controller and always acts.
  bool may_act() const { return !elector || elector->may_act(); }

  kube::Object lookup(const std::string& key) const {
    for (const auto& c : commands)
      if (auto obj = c->store().get(key)) return obj;
    return nullptr;
  }

  // The nodes and agent endpoints as the caches hold them, rebuilt only after they changed.
  const ClusterView& cluster_view() {
    if (!cluster_stale) return cluster;
    cluster.nodes.clear();
    for (const auto& node : nodes.store().list())
      if (auto info = parse_node_info(*node)) cluster.nodes.push_back(std::move(*info));
    std::vector<const rapidjson::Value*> slices;
    const auto objects = agent_slices.store().list();
    for (const auto& s : objects) slices.push_back(s.get());
    cluster.agents = agent_addresses(slices, default_agent_port);
    cluster_stale = false;
    return cluster;
  }

  std::vector<kube::Informer*> informers() {
    std::vector<kube::Informer*> all{&nodes, &agent_slices};
    for (auto& c : commands) all.push_back(c.get());
    return all;
  }

  asio::awaitable<void> worker() {
    co_await run_reconcile_worker(
        queue, [this](const std::string& key) { return reconciler.reconcile(key); }, &metrics, log);
  }

  // /readyz: every cache synced once, and the API server answering.
  std::optional<std::string> not_ready() const {
    if (!synced.load(std::memory_order_relaxed)) return "caches not synced yet (or certificates not ready)";
    return reachability.problem();
  }

  Logger& log;
  ControllerMetrics& metrics;
  ApiReachability reachability;  // before the clients, which report to it
  std::atomic<bool> synced{false};
  std::uint16_t default_agent_port;
  kube::Client api;
  kube::Client events_api;  // Events only: their own rate limit and connections
  kube::Client lease_api;   // the leader Lease only
  std::unique_ptr<LeaderElector> elector;  // with --leader-elect
  kube::Informer nodes;
  kube::Informer agent_slices;
  std::vector<std::unique_ptr<kube::Informer>> commands;
  WorkQueue queue;
  CertificateKeeper certificates;
  AgentClient agents;
  InstrumentedAgentApi measured_agents;
  CommandWriter writer;
  InstrumentedCommandApi measured_writer;
  LeaderOnlyCommandApi leader_writer;  // what the reconciler writes and starts passes the leader fence
  LeaderOnlyAgentApi leader_agents;
  Reconciler reconciler;
  ClusterView cluster;
  bool cluster_stale = true;
};

// The controller's background tasks: each reports how it ended (report_failure) and the last one to end
// wakes whoever waits in all_stopped.
struct Tasks {
  explicit Tasks(asio::io_context& io) : all_stopped(io, std::chrono::steady_clock::time_point::max()) {}
  std::function<void(std::exception_ptr)> handler(Logger& log, std::string what) {
    ++running;
    return [this, report = report_failure(log, std::move(what))](std::exception_ptr failure) {
      report(failure);
      if (--running == 0) all_stopped.cancel();
    };
  }
  std::size_t running = 0;
  asio::steady_timer all_stopped;
};

// Waits until every cache holds its first list and, with TLS, until the certificates are in place and the
// agent client has loaded them (so the first Start already has credentials: no handshake fails for want of
// files), then starts the reconcile workers. Polls has_synced(): Informer::wait_synced()'s frame was seen
// corrupted under GCC 12.
asio::awaitable<void> start_workers(asio::io_context& io, Controller& c, Tasks& tasks, unsigned workers,
                                    bool insecure) {
  std::string not_ready;
  for (;;) {
    bool ready = true;
    for (const kube::Informer* informer : c.informers()) ready = ready && informer->has_synced();
    // The certificate keeper (spawned next to this) logs why it is not ready and retries.
    ready = ready && (insecure || c.certificates.ready());
    if (ready) {
      if (auto prepared = c.agents.prepare(); !prepared) {
        if (prepared.error().message != not_ready) c.log.warn("agent client not ready", {{"error", prepared.error().message}});
        not_ready = prepared.error().message;
        ready = false;
      }
    }
    if (ready) break;
    const bool slept = co_await sleep_for(std::chrono::milliseconds(20));
    if (!slept) co_return;
  }
  c.synced.store(true, std::memory_order_relaxed);
  c.log.info("caches synced; reconciling", {{"nodes", c.nodes.store().size()},
                                            {"agent_endpoint_slices", c.agent_slices.store().size()}});
  for (unsigned i = 0; i < workers; ++i) asio::co_spawn(io, c.worker(), tasks.handler(c.log, "worker"));
}

// With --leader-elect: says when the caches hold their first list while this process does not lead (a warm
// standby, ready to take over).
asio::awaitable<void> report_standby_synced(Controller& c) {
  for (;;) {
    bool synced = true;
    for (const kube::Informer* informer : c.informers()) synced = synced && informer->has_synced();
    if (synced) break;
    const bool slept = co_await sleep_for(std::chrono::milliseconds(20));
    if (!slept) co_return;
  }
  // A warm standby is ready (/readyz): it can take over at once.
  c.synced.store(true, std::memory_order_relaxed);
  if (!c.elector->leading())
    c.log.info("caches synced; standing by", {{"identity", c.elector->identity()}, {"nodes", c.nodes.store().size()}});
}

// Waits for SIGTERM/SIGINT, then stops in order: no more keys handed out, trackers and cancels stopped
// (executions keep running on the agents; the next controller collects them), background loops cancelled,
// the reconciles in flight let finish their status writes, the events handed over posted. If something in
// flight does not notice within shutdown_deadline, the io_context is stopped. Then a leader hands the Lease
// over (holder cleared), so a standby takes it at its next retry instead of after the lease duration.
asio::awaitable<void> stop_on_signal(asio::io_context& io, asio::signal_set& signals, Controller& c, Tasks& tasks,
                                     std::vector<std::unique_ptr<asio::cancellation_signal>>& stops,
                                     asio::cancellation_signal& stop_elector) {
  const auto [ec, signal_number] = co_await signals.async_wait(use_tuple);
  if (ec) co_return;
  c.log.info("shutting down", {{"signal", signal_number}, {"leading", c.elector ? c.elector->leading() : true}});
  c.queue.shut_down();
  c.reconciler.stop();
  for (auto& s : stops) s->emit(asio::cancellation_type::terminal);
  // A standby has nothing to hand over; a leader keeps renewing while its last writes finish.
  if (c.elector && !c.elector->leading()) stop_elector.emit(asio::cancellation_type::terminal);
  const auto give_up_at = std::chrono::steady_clock::now() + shutdown_deadline;
  bool finished = tasks.running == 0;
  if (!finished) {
    tasks.all_stopped.expires_at(give_up_at);
    auto [timed_out] = co_await tasks.all_stopped.async_wait(use_tuple);
    finished = static_cast<bool>(timed_out);  // cancelled by the last task to end
    if (!finished) c.log.warn("shutdown took too long; stopping now", {{"tasks_running", tasks.running}});
  }
  // The events of results already in the status go out while this process still leads (the fence would
  // refuse them after the hand-over, and a successor does not post them again).
  while (finished && c.reconciler.pending_events() > 0) {
    if (std::chrono::steady_clock::now() >= give_up_at) {
      c.log.warn("shutdown took too long; events not posted", {{"events", c.reconciler.pending_events()}});
      finished = false;
      break;
    }
    const bool slept = co_await sleep_for(std::chrono::milliseconds(20));
    if (!slept) break;
  }
  // The agent connections' relays would keep the loop running.
  c.agents.close_all();
  if (c.elector) {
    stop_elector.emit(asio::cancellation_type::terminal);
    co_await c.elector->release();
  }
  if (!finished) io.stop();
}

// workqueue_unfinished_work_seconds and workqueue_longest_running_processor_seconds, every 500 ms as client-go.
// Also the event queue's gauges (and its stall warning).
asio::awaitable<void> update_queue_metrics(WorkQueue& queue, Reconciler& reconciler) {
  for (;;) {
    queue.update_unfinished_work();
    reconciler.update_event_metrics();
    const bool slept = co_await sleep_for(std::chrono::milliseconds(500));
    if (!slept) co_return;
  }
}

// Beats while the event loop runs (liveness, /healthz).
asio::awaitable<void> beat(observability::Heartbeat& heartbeat) {
  for (;;) {
    heartbeat.beat();
    const bool slept = co_await sleep_for(observability::Heartbeat::interval);
    if (!slept) co_return;
  }
}

}  // namespace

// The controller's event loop. Its execution_context::shutdown() (protected in Asio) is made callable so that
// run() can destroy what is still queued, coroutine frames included, while the Controller those frames point
// into is still alive: after a shutdown that ran past its deadline (io.stop()), the frames left suspended would
// otherwise be destroyed by ~io_context, after ~Controller, and touch freed memory.
class EventLoop : public asio::io_context {
 public:
  using asio::io_context::shutdown;
};

int run(const ControllerOptions& o, Logger& log, observability::LibraryLogSink& library_log) {
  EventLoop io;
  // Registered before "controller starting" is logged: a SIGTERM that comes while the controller is still
  // starting is kept (asio queues it) and handled as a graceful stop once the loop runs, not the default kill.
  asio::signal_set stop_signals(io, SIGINT, SIGTERM);
  if (o.leader_elect) {
    if (auto problem = timing_problem(o.leader_election)) {
      log.error("refusing the leader election timing", {{"error", *problem}});
      return 2;
    }
  }
  auto config = kube::load_cluster_config(o.kubeconfig);
  if (!config) {
    log.error("cannot use the cluster configuration", {{"error", config.error().message}});
    return 1;
  }
  log.info("controller starting", {{"version", JARVIS_VERSION}, {"api_server", config->server},
                                   {"config", config->source}, {"agent_service",
                                   o.agent_namespace + "/" + o.agent_service}, {"workers", o.workers},
                                   {"leader_elect", o.leader_elect}});

  metrics::Registry registry;
  ControllerMetrics metrics(registry);
  metrics::register_process_metrics(registry);
  metrics.set_leader(leader_lease_name, false);  // until it leads (at once without --leader-elect)
  library_log.set_on_refused(
      [&metrics](std::string_view reason) { metrics.tls_handshake_failures.with({reason}).inc(); });
  // The controller terminates its agent TLS itself (agent_connector.hpp): a failed handshake with an agent is
  // one audit line naming the agent, and counted in jarvis_tls_handshake_failures_total.
  // On the heap, so that a use after its destruction (a frame destroyed too late) is one AddressSanitizer sees.
  const auto controller = std::make_unique<Controller>(
      io, o, std::move(*config), metrics, log,
      [&library_log](std::string_view reason, std::string_view detail, std::string_view agent) {
        library_log.refused(reason, detail, agent, "openssl");
      });
  Controller& c = *controller;
  observability::Heartbeat heartbeat;
  auto endpoints = observability::serve_endpoints(
      o.endpoints, observability::controller_defaults,
      observability::Probes{.live = observability::heartbeat_check(heartbeat), .ready = [&c] { return c.not_ready(); }},
      registry, log);
  if (!endpoints) {
    log.error("cannot serve the probe and metrics endpoints", {{"error", endpoints.error().message}});
    library_log.set_on_refused({});
    return 1;
  }
  Tasks tasks(io);
  std::vector<std::unique_ptr<asio::cancellation_signal>> stops;
  auto spawn = [&](std::string what, asio::awaitable<void> task) {
    stops.push_back(std::make_unique<asio::cancellation_signal>());
    asio::co_spawn(io, std::move(task),
                   asio::bind_cancellation_slot(stops.back()->slot(), tasks.handler(log, std::move(what))));
  };
  for (auto* informer : c.informers()) spawn("informer " + informer->resource().list_path, informer->run());

  if (o.insecure) {
    log.warn("--insecure: plaintext gRPC to the agents, no certificates; commands and results cross the network "
             "unprotected and agents accept anyone. Development only.");
  }
  spawn("heartbeat", beat(heartbeat));
  metrics.max_concurrent_reconciles.set(o.workers);
  spawn("queue metrics", update_queue_metrics(c.queue, c.reconciler));
  // What only the leader runs: the reconcile workers (every status, event, Start and Cancel) and the
  // certificate keeper (the Secrets). A standby runs the informers only.
  bool started = false;
  const auto start_leading = [&] {
    if (started) return;
    started = true;
    spawn("start workers", start_workers(io, c, tasks, o.workers, o.insecure));
    if (!o.insecure) spawn("certificate renewal", c.certificates.run());
    spawn("idle agent channels", c.agents.close_idle_channels(idle_agent_channel, idle_agent_channel_sweep));
  };
  // Whether this process leads, as it changes (metrics: leader_election_master_status is set here).
  const auto leadership_changed = [&](bool leading) {
    metrics.set_leader(leader_lease_name, leading);
    if (leading) start_leading();
  };
  asio::cancellation_signal stop_elector;
  if (c.elector) {
    c.elector->on_change(leadership_changed);
    // The fence (leader_gate.hpp) already refuses every write, Start and Cancel; the process exits at once,
    // running nothing more (no pending handler, no destructor): whatever was in flight is the new leader's to
    // resume (README, "Running two replicas"). The Deployment restarts it as a standby.
    c.elector->on_lost([](const std::string&) {
      std::fflush(nullptr);
      std::_Exit(1);
    });
    spawn("standby sync report", report_standby_synced(c));
    asio::co_spawn(io, c.elector->run(),
                   asio::bind_cancellation_slot(stop_elector.slot(), report_failure(log, "leader election")));
  } else {
    leadership_changed(true);
  }
  asio::co_spawn(io, stop_on_signal(io, stop_signals, c, tasks, stops, stop_elector), report_failure(log, "shutdown"));
  io.run();
  // Whatever did not finish (a shutdown past its deadline) is destroyed now, before the objects it uses.
  io.shutdown();
  endpoints->reset();
  library_log.set_on_refused({});
  log.info("controller stopped");
  return 0;
}

}  // namespace jarvis::controller
