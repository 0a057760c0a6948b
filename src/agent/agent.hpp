// The agent role: a gRPC server that runs shell commands on its node, behind its own mutual TLS (tls_front.hpp).
#pragma once

#include <cstdint>
#include <string>

#include <CLI/CLI.hpp>

#include "common/limits.hpp"
#include "common/log.hpp"
#include "observability/endpoints.hpp"
#include "observability/library_log_sink.hpp"

namespace jarvis::agent {

struct AgentOptions {
  std::string listen = "0.0.0.0:50051";
  std::string host_root = "/host";
  std::string node_name;  // --node-name, else $NODE_NAME, else the hostname
  std::uint64_t max_output_bytes = 1 << 20;
  unsigned max_concurrent = 64;
  unsigned retain_finished = 1000;
  unsigned retain_finished_for_seconds = 86400;
  std::string state_dir = "/var/lib/jarvis";     // holds the journal; a hostPath, so it outlives the pod
  std::uint64_t journal_max_bytes = 64ULL << 20;
  unsigned kill_grace_period_seconds = 5;
  unsigned default_timeout_seconds = limits::default_timeout_seconds;
  bool insecure = false;                          // plaintext gRPC, development only
  std::string tls_dir = "/var/run/jarvis/tls";    // the mounted Secret jarvis-agent-tls
  unsigned tls_refresh_interval_seconds = 60;
  unsigned tls_handshake_timeout_seconds = 10;  // hidden flags: the tests change them
  unsigned tls_max_handshakes = 256;             // so that a flood of handshakes cannot exhaust the agent
  observability::EndpointOptions endpoints;       // --health-probe-bind-address, --metrics-bind-address
};

// Registers the agent's flags (group "Agent") on the shared command line.
void add_flags(CLI::App& app, AgentOptions& options);

// Runs the agent until SIGTERM/SIGINT; returns the process exit status. `library_log` (installed by main)
// writes the audit line of each refused TLS connection and counts it in the agent's metrics.
int run(const AgentOptions& options, Logger& log, observability::LibraryLogSink& library_log);

}  // namespace jarvis::agent
