// The controller role: reconciles Command resources and fans them out to the node agents.
#pragma once

#include <string>

#include <CLI/CLI.hpp>

#include "common/log.hpp"

namespace jarvis::controller {

struct ControllerOptions {
  std::string kubeconfig;  // --kubeconfig, else $KUBECONFIG, else in-cluster
};

// Registers the controller's flags (group "Controller") on the shared command line.
void add_flags(CLI::App& app, ControllerOptions& options);

// Runs the controller until SIGTERM/SIGINT; returns the process exit status.
int run(const ControllerOptions& options, Logger& log);

}  // namespace jarvis::controller
