#include "cli/completion.hpp"

#include <map>

namespace jarvis::cli {

namespace {

const std::vector<std::string> kSubcommands = {"run", "get", "describe", "logs", "rerun", "completion"};
const std::vector<std::string> kGlobalFlags = {"--kubeconfig", "--context", "--namespace", "-n", "--verbose", "--help"};
const std::map<std::string, std::vector<std::string>> kFlags = {
    {"run", {"--selector", "-l", "--node", "--all", "--timeout", "--max-concurrency", "--max-failures", "--name",
             "--keep", "--ttl", "--output", "-o"}},
    {"get", {"--output", "-o"}},
    {"describe", {}},
    {"logs", {"--node"}},
    {"rerun", {"--failed-only", "--output", "-o"}},
    {"completion", {}},
};

bool starts_with(const std::string& s, const std::string& prefix) { return s.compare(0, prefix.size(), prefix) == 0; }

}  // namespace

std::vector<std::string> complete(const std::vector<std::string>& words) {
  std::string current = words.empty() ? "" : words.back();
  std::string previous = words.size() >= 2 ? words[words.size() - 2] : "";
  std::string subcommand;
  for (std::size_t i = 0; i + 1 < words.size(); ++i) {
    if (words[i] == "--") return {};  // the remote command: nothing to offer
    for (const auto& s : kSubcommands) {
      if (words[i] == s && subcommand.empty()) subcommand = s;
    }
  }
  std::vector<std::string> pool;
  if (previous == "-o" || previous == "--output") {
    pool = {"folded", "lines", "json", "yaml"};
  } else if (subcommand == "completion") {
    pool = {"bash", "zsh"};
  } else if (subcommand.empty() && !starts_with(current, "-")) {
    pool = kSubcommands;
  } else if (starts_with(current, "-")) {
    pool = kGlobalFlags;
    if (auto it = kFlags.find(subcommand); it != kFlags.end()) pool.insert(pool.end(), it->second.begin(), it->second.end());
  }
  std::vector<std::string> out;
  for (const auto& candidate : pool) {
    if (starts_with(candidate, current)) out.push_back(candidate);
  }
  return out;
}

std::optional<std::string> completion_script(const std::string& shell) {
  if (shell == "bash") {
    return R"(# bash completion for kubectl jarvis. Load it with: source <(kubectl jarvis completion bash)
_kubectl_jarvis() {
  local IFS=$'\n'
  local words=("${COMP_WORDS[@]:1:COMP_CWORD}")
  COMPREPLY=($(kubectl-jarvis __complete "${words[@]}" 2>/dev/null | grep -v '^:'))
}
complete -F _kubectl_jarvis kubectl-jarvis
)";
  }
  if (shell == "zsh") {
    return R"(#compdef kubectl-jarvis
# zsh completion for kubectl jarvis. Load it with: source <(kubectl jarvis completion zsh)
_kubectl_jarvis() {
  local -a candidates
  candidates=("${(@f)$(kubectl-jarvis __complete "${(@)words[2,CURRENT]}" 2>/dev/null | grep -v '^:')}")
  compadd -a candidates
}
compdef _kubectl_jarvis kubectl-jarvis
)";
  }
  return std::nullopt;
}

}  // namespace jarvis::cli
