#include "agent/agent.hpp"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <climits>
#include <functional>
#include <thread>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>

#include "agent/agent_metrics.hpp"
#include "agent/execution_journal.hpp"
#include "agent/execution_registry.hpp"
#include "agent/grpc_service.hpp"
#include "agent/orphan_reaper.hpp"
#include "agent/start_request_validation.hpp"
#include "agent/tls_front.hpp"
#include "common/coro.hpp"
#include "observability/heartbeat.hpp"
#include "tls/certificates.hpp"
#include "tls/identities.hpp"
#include "tls/tls_directory.hpp"

namespace jarvis::agent {

namespace {

constexpr std::uint64_t most_output_bytes = 64ULL << 20;
// A StartRequest holds at most a 64 KiB command plus short ids; anything far larger is refused by gRPC.
constexpr int max_request_bytes = 256 * 1024;
// The shortest interval between the controller's keepalive pings the agent takes without complaint.
constexpr int min_ping_interval_ms = 1000;
// How long in-flight calls get to complete once the agent is asked to stop.
constexpr std::chrono::seconds server_shutdown_deadline{10};

// Waits for SIGTERM or SIGINT, then stops everything in order: new starts are refused and running commands
// are stopped, no new connection is accepted (`front`, null with --insecure), the gRPC server drains its
// calls, the connections left are closed, the last commands end and their orphans are collected.
asio::awaitable<void> serve_until_stopped(grpc::Server& server, AgentService& service, TlsFront* front,
                                          ExecutionRegistry& registry, OrphanReaper& orphan_reaper,
                                          std::atomic<bool>& serving, Logger& log) {
  auto executor = co_await asio::this_coro::executor;
  asio::signal_set stop_signals(executor, SIGTERM, SIGINT);
  const auto [ec, signal_number] = co_await stop_signals.async_wait(asio::as_tuple(asio::use_awaitable));
  log.info("agent stopping", {{"signal", signal_number}, {"running", registry.running()}});
  serving.store(false, std::memory_order_relaxed);
  registry.begin_shutdown();
  if (front) front->stop_accepting();

  // Shutdown blocks until in-flight calls finish, and they finish on this executor: call it from a thread.
  asio::steady_timer server_down(executor, asio::steady_timer::time_point::max());
  std::thread shutdown_thread([&] {
    server.Shutdown(std::chrono::system_clock::now() + server_shutdown_deadline);
    service.stop();
    asio::post(executor, [&] { server_down.cancel(); });
  });
  co_await server_down.async_wait(asio::as_tuple(asio::use_awaitable));
  shutdown_thread.join();
  log.debug("agent stopping: gRPC server stopped", {{"running", registry.running()}});
  if (front) front->close_all();

  co_await registry.wait_until_idle();
  log.debug("agent stopping: no command runs", {});
  orphan_reaper.sweep();
  orphan_reaper.stop();
}

// Why the files in --tls-dir cannot serve yet (missing, unreadable, not a key pair from their CA, outside
// their validity), if they cannot.
std::optional<std::string> tls_files_problem(const std::string& directory) {
  if (!tls::tls_directory_complete(directory)) return "missing";
  auto files = tls::read_tls_directory(directory);
  if (!files) return files.error().message;
  if (auto usable = tls::verify_key_pair(files->identity, files->ca_certificate_pem, tls::Clock::now()); !usable)
    return usable.error().message;
  return std::nullopt;
}

// Blocks until --tls-dir holds a usable set of the three files (the kubelet has mounted Secret
// jarvis-agent-tls) or a stop signal arrives; false for the signal. Without them every handshake would fail,
// so the agent does not listen before.
bool wait_for_tls_files(const std::string& directory, observability::Heartbeat& heartbeat, Logger& log) {
  const auto first_problem = tls_files_problem(directory);
  if (!first_problem) return true;
  log.warn("waiting for TLS files; no connection is served before (the controller creates Secret "
           "jarvis-agent-tls; is it running, and is the Secret mounted here?)",
           {{"tls_dir", directory},
            {"files", std::string(tls::ca_file) + ", " + std::string(tls::certificate_file) + ", " +
                          std::string(tls::private_key_file)},
            {"problem", *first_problem}});
  asio::io_context io(1);
  asio::signal_set stop_signals(io, SIGTERM, SIGINT);
  asio::steady_timer poll(io);
  bool ready = false;
  const auto since = std::chrono::steady_clock::now();
  auto reported = since;
  stop_signals.async_wait([&](const boost::system::error_code& ec, int) {
    if (!ec) poll.cancel();
  });
  std::function<void(const boost::system::error_code&)> check = [&](const boost::system::error_code& ec) {
    if (ec) return;
    const auto now = std::chrono::steady_clock::now();
    heartbeat.beat(now);
    const auto problem = tls_files_problem(directory);
    if (!problem) {
      ready = true;
      log.info("TLS files found", {{"tls_dir", directory},
                                   {"waited_s", std::chrono::duration_cast<std::chrono::seconds>(now - since).count()}});
      stop_signals.cancel();
      return;
    }
    if (now - reported >= std::chrono::minutes(1)) {
      reported = now;
      log.warn("still waiting for TLS files", {{"tls_dir", directory}, {"problem", *problem}});
    }
    poll.expires_after(std::chrono::milliseconds(500));
    poll.async_wait(check);
  };
  check({});
  io.run();
  return ready;
}

// Beats while the event loop runs (liveness, /healthz).
asio::awaitable<void> beat(observability::Heartbeat& heartbeat) {
  for (;;) {
    heartbeat.beat();
    const bool slept = co_await sleep_for(observability::Heartbeat::interval);
    if (!slept) co_return;
  }
}

// /readyz: gRPC is served, and (with TLS) the TLS front listens with a usable certificate from --tls-dir.
// `front` is read only once `serving` says it is set (the probes run on their own thread).
std::optional<std::string> not_ready(const std::atomic<bool>& serving, const std::unique_ptr<TlsFront>& front) {
  if (!serving.load(std::memory_order_acquire)) return "not serving gRPC (starting, waiting for TLS files, or stopping)";
  if (front) return front->not_ready();
  return std::nullopt;
}

std::string hostname() {
  char name[HOST_NAME_MAX + 1] = {};
  if (::gethostname(name, sizeof name - 1) != 0) return "unknown";
  return name;
}

}  // namespace

void add_flags(CLI::App& app, AgentOptions& o) {
  const std::string group = "Agent";
  app.add_option("--listen", o.listen, "agent: gRPC listen address, host:port")
      ->group(group)
      ->capture_default_str()
      ->envname("JARVIS_LISTEN");
  app.add_option("--host-root", o.host_root,
                 "agent: directory commands are chrooted into before /bin/sh runs; / means no chroot")
      ->group(group)
      ->capture_default_str()
      ->check(CLI::ExistingDirectory);
  app.add_option("--node-name", o.node_name, "agent: node name put in every result (default: the hostname)")
      ->group(group)
      ->envname("NODE_NAME");
  app.add_option("--max-output-bytes", o.max_output_bytes,
                 "agent: output kept per execution (first half + last half); a request may ask for less")
      ->group(group)
      ->capture_default_str()
      ->check(CLI::Range(std::uint64_t{1}, most_output_bytes));
  app.add_option("--max-concurrent", o.max_concurrent,
                 "agent: executions running at once; beyond it Start fails with RESOURCE_EXHAUSTED")
      ->group(group)
      ->capture_default_str()
      ->check(CLI::Range(1u, 100000u));
  app.add_option("--retain-finished", o.retain_finished,
                 "agent: finished results kept for Wait, in memory and in the journal (count)")
      ->group(group)
      ->capture_default_str()
      ->check(CLI::Range(1u, 1000000u));
  app.add_option("--retain-finished-for", o.retain_finished_for_seconds,
                 "agent: seconds a finished result is kept for Wait, in memory and in the journal. A day: the "
                 "journal outlives agent restarts, and a controller that was down for hours can still collect "
                 "results; an expired record moves the journal's horizon, after which a resumed Start of an "
                 "unknown id is refused rather than run")
      ->group(group)
      ->capture_default_str()
      ->check(CLI::Range(1u, 7u * 86400u));
  app.add_option("--state-dir", o.state_dir,
                 "agent: directory of the execution journal (created 0700 when missing; a hostPath in the "
                 "DaemonSet). Every execution id is synced there before its command runs")
      ->group(group)
      ->capture_default_str();
  app.add_option("--journal-max-bytes", o.journal_max_bytes,
                 "agent: bound of the journal file; finished results take at most half of it, oldest evicted "
                 "first (the newest is always kept)")
      ->group(group)
      ->capture_default_str()
      ->check(CLI::Range(std::uint64_t{1} << 20, std::uint64_t{1} << 40));
  app.add_option("--kill-grace-period", o.kill_grace_period_seconds,
                 "agent: seconds between SIGTERM and SIGKILL on timeout, cancel and shutdown")
      ->group(group)
      ->capture_default_str()
      ->check(CLI::Range(0u, 3600u));
  app.add_option("--default-timeout", o.default_timeout_seconds,
                 "agent: timeout in seconds for requests that give none")
      ->group(group)
      ->capture_default_str()
      ->check(CLI::Range(1u, max_timeout_seconds));
  app.add_option("--tls-refresh-interval", o.tls_refresh_interval_seconds,
                 "agent: seconds between looks at --tls-dir (also looked at on every new connection); renewed "
                 "certificates apply to new connections")
      ->group(group)
      ->capture_default_str()
      ->check(CLI::Range(1u, 3600u));
  // Hidden: the tests shorten the deadline to show a silent client's refusal, and lower the bound to show a
  // connection beyond it refused.
  app.add_option("--tls-handshake-timeout", o.tls_handshake_timeout_seconds,
                 "agent: seconds a client gets to complete the TLS handshake")
      ->group("")
      ->capture_default_str()
      ->check(CLI::Range(1u, 300u));
  app.add_option("--tls-max-handshakes", o.tls_max_handshakes,
                 "agent: TLS handshakes in progress at once; a connection beyond is closed at once")
      ->group("")
      ->capture_default_str()
      ->check(CLI::Range(1u, 65536u));
}

int run(const AgentOptions& options, Logger& log, observability::LibraryLogSink& library_log) {
  const std::string node_name = options.node_name.empty() ? hostname() : options.node_name;
  asio::io_context io(1);

  metrics::Registry metrics_registry;
  AgentMetrics metrics(metrics_registry);
  library_log.set_on_refused(
      [&metrics](std::string_view reason) { metrics.tls_handshake_failures.with({reason}).inc(); });
  struct Unhook {  // the sink outlives run(); the metrics do not
    observability::LibraryLogSink& sink;
    ~Unhook() { sink.set_on_refused({}); }
  } unhook{library_log};
  observability::Heartbeat heartbeat;
  std::atomic<bool> serving{false};
  std::unique_ptr<TlsFront> front;  // set before `serving`, kept until the end of run()
  auto endpoints = observability::serve_endpoints(
      options.endpoints, observability::agent_defaults,
      observability::Probes{.live = observability::heartbeat_check(heartbeat),
                            .ready = [&serving, &front] { return not_ready(serving, front); }},
      metrics_registry, log);
  if (!endpoints) {
    log.error("cannot serve the probe and metrics endpoints", {{"error", endpoints.error().message}});
    return 1;
  }

  auto journal = ExecutionJournal::open(options.state_dir, options.journal_max_bytes, log);
  if (!journal) {
    log.error("agent cannot keep its journal", {{"state_dir", options.state_dir}, {"error", journal.error().message}});
    return 1;
  }
  ExecutionRegistry registry(io.get_executor(),
                             ExecutionEnvironment{
                                 .host_root = options.host_root,
                                 .node_name = node_name,
                                 .kill_grace_period = std::chrono::seconds(options.kill_grace_period_seconds),
                             },
                             RegistryLimits{
                                 .max_running = options.max_concurrent,
                                 .max_retained_finished = options.retain_finished,
                                 .retain_finished_for = std::chrono::seconds(options.retain_finished_for_seconds),
                             },
                             **journal, log, &metrics);
  ConnectionPeers peers;
  AgentService service(io.get_executor(), registry,
                       RequestDefaults{
                           .timeout = std::chrono::seconds(options.default_timeout_seconds),
                           .max_output_bytes = static_cast<std::size_t>(options.max_output_bytes),
                       },
                       log, options.insecure ? nullptr : &peers);
  OrphanReaper orphan_reaper(io.get_executor(), [&registry](pid_t pid) { return registry.supervises(pid); }, log);

  if (options.insecure) {
    log.warn("--insecure: serving plaintext gRPC; anyone who can reach the port can run commands as root on "
             "this node. Development only.",
             {{"listen", options.listen}});
  } else if (!wait_for_tls_files(options.tls_dir, heartbeat, log)) {
    log.info("agent stopped before its TLS files appeared");
    return 0;
  }

  int port = 0;
  grpc::ServerBuilder builder;
  // With TLS the gRPC server has no port of its own: the TLS front listens, and hands it each verified
  // connection as a local socket.
  if (options.insecure) builder.AddListeningPort(options.listen, grpc::InsecureServerCredentials(), &port);
  service.register_with(builder);
  builder.SetMaxReceiveMessageSize(max_request_bytes);
  // Without this a second agent could bind the same port and silently take half of the calls.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  // The controller pings its connections (--agent-keepalive-time, at least every second in tests) to notice a
  // silent agent under a long Wait: take its pings at any rate, with or without calls, and never answer them
  // with GOAWAY "too_many_pings", which would fail the calls in flight.
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, min_ping_interval_ms);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 0);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || (options.insecure && port == 0)) {
    log.error("agent could not listen", {{"listen", options.listen}});
    return 1;
  }
  service.serve();
  if (!options.insecure) {
    auto listening = TlsFront::listen(
        io.get_executor(),
        TlsFrontOptions{.listen = options.listen,
                        .tls_dir = options.tls_dir,
                        .refresh_interval = std::chrono::seconds(options.tls_refresh_interval_seconds),
                        .handshake_timeout = std::chrono::seconds(options.tls_handshake_timeout_seconds),
                        .max_handshakes = options.tls_max_handshakes},
        peers,
        [&library_log](std::string_view reason, std::string_view detail, std::string_view peer) {
          library_log.refused(reason, detail, peer, "openssl", "agent TLS handshake");
        },
        log);
    if (!listening) {
      log.error("agent could not listen", {{"listen", options.listen}, {"error", listening.error().message}});
      server->Shutdown();
      return 1;
    }
    front = std::move(*listening);
    port = front->port();
  }
  log.info("agent listening", {{"listen", options.listen},
                               {"port", port},
                               {"host_root", options.host_root},
                               {"node_name", node_name},
                               {"max_concurrent", options.max_concurrent},
                               {"max_output_bytes", options.max_output_bytes},
                               {"transport", options.insecure ? "plaintext" : "mutual TLS"},
                               {"tls_dir", options.insecure ? std::string() : options.tls_dir},
                               {"journal", (*journal)->path().string()}});

  orphan_reaper.start();
  if (front) asio::co_spawn(io, front->run(*server), report_failure(log, "TLS front"));
  serving.store(true, std::memory_order_release);
  asio::cancellation_signal stop_beating;
  asio::co_spawn(io, beat(heartbeat),
                 asio::bind_cancellation_slot(stop_beating.slot(), report_failure(log, "heartbeat")));
  bool clean = false;
  asio::co_spawn(io, serve_until_stopped(*server, service, front.get(), registry, orphan_reaper, serving, log),
                 [&](std::exception_ptr failure) {
                   clean = !failure;
                   if (failure) log.error("agent shutdown failed", {{"error", jarvis::describe(failure)}});
                   stop_beating.emit(asio::cancellation_type::terminal);
                   log.debug("agent stopping: orphans collected, heartbeat stopped", {});
                 });
  io.run();
  endpoints->reset();
  log.info("agent stopped");
  return clean ? 0 : 1;
}

}  // namespace jarvis::agent
