// The operational endpoints of a role: /healthz and /readyz on --health-probe-bind-address, /metrics on
// --metrics-bind-address (the same listener serves all three when the addresses are equal). Each probe is
// a check that returns nullopt when fine, or the reason it is not (the body of the 500 answer).
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "common/log.hpp"
#include "common/result.hpp"
#include "http/endpoint_server.hpp"
#include "metrics/registry.hpp"

namespace jarvis::observability {

struct EndpointOptions {
  std::string health_probe_bind_address;  // empty: the role's default
  std::string metrics_bind_address;       // empty: the role's default
};

struct RoleDefaults {
  std::string health_probe_bind_address;
  std::string metrics_bind_address;
};
inline const RoleDefaults controller_defaults{":8081", ":8080"};
// The agent uses the host network: one port next to its gRPC port (50051), away from the usual 8080/8081,
// 9090-9100 (Prometheus, node exporter) and 10250-10259 (kubelet, kube-proxy, control plane).
inline const RoleDefaults agent_defaults{":50052", ":50052"};

// Registers --health-probe-bind-address and --metrics-bind-address (shared by both roles).
void add_flags(CLI::App& app, EndpointOptions& options);

using Check = std::function<std::optional<std::string>()>;
struct Probes {
  Check live;   // /healthz
  Check ready;  // /readyz
};

// Binds the endpoints (an Error names the flag and the address) and serves them on a thread of their own
// until the returned server is destroyed. nullptr when both are disabled ("0").
Result<std::unique_ptr<http::EndpointServer>> serve_endpoints(const EndpointOptions& options,
                                                              const RoleDefaults& defaults, Probes probes,
                                                              const metrics::Registry& registry, Logger& log);

// Checks for the usual cases.
Check heartbeat_check(const class Heartbeat& heartbeat);

}  // namespace jarvis::observability
