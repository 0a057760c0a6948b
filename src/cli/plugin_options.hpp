// What the plugin's flags say, per subcommand, once parsed (plugin_main.cpp parses; the actions act).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "cli/kubeconfig.hpp"

namespace jarvis::cli {

// Exit statuses: 0 every node succeeded (or the action worked), 1 a node failed or was skipped, or the API
// refused; 2 a usage error; 130 interrupted by Ctrl-C (the Command canceled or left running).
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitInterrupted = 130;

enum class OutputFormat { folded, lines, json, yaml };

struct RunOptions {
  std::string selector;             // -l
  std::vector<std::string> nodes;   // --node
  bool all = false;                 // --all
  std::string timeout;              // --timeout, e.g. 30s
  std::string max_concurrency;      // N or P%
  std::string max_failures;
  std::string name;
  bool keep = false;
  std::string ttl = "24h";
  std::string output = "folded";
  std::vector<std::string> command;  // after --
};

struct RerunOptions {
  std::string name;
  bool failed_only = false;
  std::string output = "folded";
};

struct ShowOptions {  // get, describe
  std::string name;
  std::string output = "folded";
};

struct LogsOptions {
  std::string name;
  std::string node;
};

struct GlobalOptions {
  ConnectionFlags connection;
  bool verbose = false;
};

}  // namespace jarvis::cli
