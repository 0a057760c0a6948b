#include "agent/agent.hpp"

namespace jarvis::agent {

void add_flags(CLI::App& app, AgentOptions& o) {
  app.add_option("--listen", o.listen, "agent: gRPC listen address")->group("Agent")->capture_default_str();
}

int run(const AgentOptions&, Logger& log) {
  log.error("agent not built yet");
  return 1;
}

}  // namespace jarvis::agent
