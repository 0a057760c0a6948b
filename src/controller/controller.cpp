#include "controller/controller.hpp"

namespace jarvis::controller {

void add_flags(CLI::App& app, ControllerOptions& o) {
  app.add_option("--kubeconfig", o.kubeconfig, "controller: kubeconfig file")->group("Controller")->envname("KUBECONFIG");
}

int run(const ControllerOptions&, Logger& log) {
  log.error("controller not built yet");
  return 1;
}

}  // namespace jarvis::controller
