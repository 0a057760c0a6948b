// `kubectl jarvis`: the jarvis executable as a kubectl plugin. main() hands over here when the program is
// called as kubectl-jarvis (or kubectl_complete-jarvis), or with a plugin subcommand first (`jarvis run ...`,
// `jarvis cli run ...`); the --role=controller|agent invocations never reach it.
#pragma once

namespace jarvis::cli {

bool is_plugin_invocation(int argc, char** argv);

// Parses the plugin's flags and runs the subcommand; returns the exit status (see plugin_options.hpp).
int plugin_main(int argc, char** argv);

}  // namespace jarvis::cli
