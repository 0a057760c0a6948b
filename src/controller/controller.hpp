// The controller role: reconciles Command resources and fans them out to the node agents.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "common/log.hpp"
#include "controller/leader_election.hpp"
#include "observability/endpoints.hpp"
#include "observability/library_log_sink.hpp"

namespace jarvis::controller {

struct ControllerOptions {
  std::string kubeconfig;               // --kubeconfig, else $KUBECONFIG, else in-cluster
  std::vector<std::string> namespaces;  // Commands watched; empty = all namespaces
  std::string agent_namespace = "jarvis";
  std::string agent_service = "jarvis-agent";
  std::uint16_t agent_port = 50051;     // when an EndpointSlice names no port
  double kube_api_qps = 20;               // status, finalizer, list/watch, Secrets
  int kube_api_burst = 40;
  double kube_api_event_qps = 50;         // Events: a budget of their own (README, "Fleet speed")
  int kube_api_event_burst = 100;
  unsigned workers = 4;
  unsigned max_concurrent_starts = 64;  // Start calls to agents in flight at once (the rest wait their turn)
  std::uint64_t max_output_bytes = 64 * 1024;
  unsigned agent_keepalive_time_seconds = 30;     // HTTP/2 ping and TCP keepalive on agent connections
  unsigned agent_keepalive_timeout_seconds = 10;  // an unanswered ping drops the connection after this
  bool insecure = false;                        // plaintext gRPC to agents, development only
  std::string tls_dir = "/var/run/jarvis/tls";  // the controller's own certificate files (an emptyDir)
  std::string cert_lifetime = "2160h";          // agent and controller certificates; renewed at 2/3
  bool leader_elect = false;                    // --leader-elect: Lease <agent_namespace>/jarvis-controller
  LeaderElectionTiming leader_election;
  std::string pod_name;                         // $POD_NAME (downward API): the start of the leader identity
  observability::EndpointOptions endpoints;     // --health-probe-bind-address, --metrics-bind-address
};

// Registers the controller's flags (group "Controller") on the shared command line.
void add_flags(CLI::App& app, ControllerOptions& options);

// Runs the controller until SIGTERM/SIGINT; returns the process exit status. `library_log` (installed by
// main) is told to count refused TLS handshakes in the controller's metrics.
int run(const ControllerOptions& options, Logger& log, observability::LibraryLogSink& library_log);

}  // namespace jarvis::controller
