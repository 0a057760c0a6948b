#include "observability/endpoints.hpp"

#include <sstream>

#include "observability/heartbeat.hpp"

namespace jarvis::observability {

void add_flags(CLI::App& app, EndpointOptions& o) {
  const char* g = "Probes and metrics";
  const auto address = [](const std::string& text) -> std::string {
    const auto parsed = http::parse_bind_address(text);
    return parsed ? std::string() : parsed.error().message;
  };
  app.add_option("--health-probe-bind-address", o.health_probe_bind_address,
                 "address of /healthz and /readyz, e.g. :8081 or 127.0.0.1:8081; 0 disables. Default :8081 for "
                 "the controller, :50052 for the agent (host network)")
      ->group(g)
      ->check(address);
  app.add_option("--metrics-bind-address", o.metrics_bind_address,
                 "address of /metrics (Prometheus text format); 0 disables. Default :8080 for the controller; "
                 "for the agent the --health-probe-bind-address (one port serves all three)")
      ->group(g)
      ->check(address);
}

namespace {

http::Reply probe_reply(const Check& check, std::string_view name) {
  const std::optional<std::string> problem = check ? check() : std::nullopt;
  if (!problem) return http::Reply{200, "text/plain; charset=utf-8", "ok\n"};
  return http::Reply{500, "text/plain; charset=utf-8", std::string(name) + " failed: " + *problem + "\n"};
}

std::string describe(const boost::asio::ip::tcp::endpoint& e) {
  std::ostringstream s;
  s << e;
  return s.str();
}

}  // namespace

Check heartbeat_check(const Heartbeat& heartbeat) {
  return [&heartbeat]() -> std::optional<std::string> {
    const auto age = std::chrono::duration_cast<std::chrono::seconds>(heartbeat.age());
    if (age < Heartbeat::stale_after) return std::nullopt;
    return "the event loop has not run for " + std::to_string(age.count()) + "s";
  };
}

Result<std::unique_ptr<http::EndpointServer>> serve_endpoints(const EndpointOptions& options,
                                                              const RoleDefaults& defaults, Probes probes,
                                                              const metrics::Registry& registry, Logger& log) {
  const std::string probe_text =
      options.health_probe_bind_address.empty() ? defaults.health_probe_bind_address : options.health_probe_bind_address;
  std::string metrics_text = options.metrics_bind_address.empty() ? defaults.metrics_bind_address : options.metrics_bind_address;
  // The agent's metrics follow its probe address unless given: one listener serves all three.
  const bool follows_probes =
      options.metrics_bind_address.empty() && defaults.metrics_bind_address == defaults.health_probe_bind_address;
  if (follows_probes) metrics_text = probe_text;
  auto probe_address = http::parse_bind_address(probe_text);
  if (!probe_address) return Error{"--health-probe-bind-address: " + probe_address.error().message};
  auto metrics_address = http::parse_bind_address(metrics_text);
  if (!metrics_address) return Error{"--metrics-bind-address: " + metrics_address.error().message};

  http::Routes probe_routes{
      {"/healthz", [live = probes.live] { return probe_reply(live, "healthz"); }},
      {"/readyz", [ready = probes.ready] { return probe_reply(ready, "readyz"); }},
  };
  http::Routes metrics_routes{{"/metrics", [&registry] {
                                 return http::Reply{200, std::string(metrics::Registry::content_type),
                                                    registry.expose()};
                               }}};
  std::vector<http::EndpointServer::Listener> listeners;
  std::vector<std::string> what;
  const bool shared = *probe_address && *metrics_address &&
                      (follows_probes || (**probe_address == **metrics_address && (*probe_address)->port() != 0));
  if (shared) {
    probe_routes.merge(metrics_routes);
    listeners.push_back({**probe_address, std::move(probe_routes)});
    what.push_back("/healthz /readyz /metrics");
  } else {
    if (*probe_address) {
      listeners.push_back({**probe_address, std::move(probe_routes)});
      what.push_back("/healthz /readyz");
    }
    if (*metrics_address) {
      listeners.push_back({**metrics_address, std::move(metrics_routes)});
      what.push_back("/metrics");
    }
  }
  if (listeners.empty()) {
    log.info("probe and metrics endpoints disabled");
    return std::unique_ptr<http::EndpointServer>();
  }
  auto server = http::EndpointServer::start(std::move(listeners), http::ServerLimits{}, log);
  if (!server) {
    return Error{server.error().message + " (--health-probe-bind-address " + probe_text +
                     ", --metrics-bind-address " + metrics_text + "; 0 disables)",
                 server.error().code};
  }
  const auto bound = (*server)->endpoints();
  for (std::size_t i = 0; i < bound.size(); ++i)
    log.info("serving endpoints", {{"paths", what[i]}, {"address", describe(bound[i])}, {"port", bound[i].port()}});
  return std::move(*server);
}

}  // namespace jarvis::observability
