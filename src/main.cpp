// jarvis: one executable, two roles, and the kubectl plugin. Called as kubectl-jarvis or with a plugin
// subcommand first (`jarvis run ...`, `jarvis cli ...`) it is `kubectl jarvis` (src/cli); otherwise it parses
// the role's flags, builds the logger and hands over to the role.
#include <cstdio>
#include <string>

#include <CLI/CLI.hpp>

#include "agent/agent.hpp"
#include "cli/plugin_main.hpp"
#include "common/log.hpp"
#include "controller/controller.hpp"
#include "observability/endpoints.hpp"
#include "observability/library_log_sink.hpp"
#include "jarvis_version.hpp"
#include "tls/grpc_runtime.hpp"

int main(int argc, char** argv) {
  jarvis::tls::configure_grpc_runtime();
  if (jarvis::cli::is_plugin_invocation(argc, argv)) return jarvis::cli::plugin_main(argc, argv);
  CLI::App app{
      "jarvis runs shell commands on Kubernetes nodes.\n"
      "  --role=controller  watches Command resources (jarvis.io/v1) and runs them on the selected nodes\n"
      "  --role=agent       serves gRPC on one node and runs the commands the controller sends\n"
      "  run|get|describe|logs|rerun|completion ...  the kubectl plugin (also as kubectl-jarvis; see jarvis cli --help)",
      "jarvis"};
  app.get_formatter()->column_width(40);
  app.set_version_flag("--version", std::string("jarvis ") + JARVIS_VERSION);

  std::string role;
  std::string log_level = "info";
  app.add_option("--role", role, "controller or agent")
      ->check(CLI::IsMember({"controller", "agent"}))
      ->envname("JARVIS_ROLE");
  app.add_option("--log-level", log_level, "debug, info, warn or error")
      ->check(CLI::IsMember({"debug", "info", "warn", "error"}))
      ->capture_default_str()
      ->envname("JARVIS_LOG_LEVEL");

  jarvis::agent::AgentOptions agent_options;
  jarvis::agent::add_flags(app, agent_options);
  jarvis::controller::ControllerOptions controller_options;
  jarvis::controller::add_flags(app, controller_options);
  jarvis::observability::EndpointOptions endpoint_options;
  jarvis::observability::add_flags(app, endpoint_options);

  // Shared by both roles: how the controller and the agents talk to each other.
  bool insecure = false;
  std::string tls_dir = "/var/run/jarvis/tls";
  app.add_flag("--insecure", insecure,
               "plaintext gRPC between controller and agents, no certificates: development only, must be given to "
               "both roles; each logs a warning. Without it, mutual TLS with the Jarvis CA (see README, Security)")
      ->group("Transport security");
  app.add_option("--tls-dir", tls_dir,
                 "agent: directory of the mounted Secret jarvis-agent-tls (ca.crt, tls.crt, tls.key); controller: "
                 "where it writes its own client certificate")
      ->group("Transport security")
      ->capture_default_str()
      ->envname("JARVIS_TLS_DIR");

  try {
    app.parse(argc, argv);
    if (role.empty()) throw CLI::RequiredError("--role");
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "jarvis: %s (see jarvis --help)\n", e.what());
    return 2;
  }

  jarvis::Logger log(*jarvis::parse_log_level(log_level));
  // From here on gRPC's and protobuf's own lines are JSON lines too.
  jarvis::observability::LibraryLogSink library_log(
      log, role == "agent" ? "refused a TLS connection" : "TLS handshake with an agent failed");
  agent_options.insecure = controller_options.insecure = insecure;
  agent_options.tls_dir = controller_options.tls_dir = tls_dir;
  agent_options.endpoints = controller_options.endpoints = endpoint_options;
  if (role == "agent") return jarvis::agent::run(agent_options, log, library_log);
  return jarvis::controller::run(controller_options, log, library_log);
}
