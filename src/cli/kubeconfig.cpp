#include "cli/kubeconfig.hpp"

#include <cstdlib>
#include <filesystem>

namespace jarvis::cli {

Result<PinnedTarget> pin_target(const ConnectionFlags& flags) {
  Result<kube::ClusterConfig> config = Error{};
  if (!flags.kubeconfig.empty() || !kube::kubeconfig_env_paths().empty()) {
    config = kube::load_cluster_config(flags.kubeconfig, flags.context);
  } else if (const char* home = std::getenv("HOME");
             home != nullptr && std::filesystem::exists(std::filesystem::path(home) / ".kube" / "config")) {
    config = kube::load_kubeconfig((std::filesystem::path(home) / ".kube" / "config").string(), flags.context);
  } else {
    config = kube::load_cluster_config("", flags.context);
  }
  if (!config) return config.error();
  PinnedTarget target{std::move(*config), flags.ns};
  if (target.ns.empty()) target.ns = target.config.default_namespace;
  if (target.ns.empty()) target.ns = "default";
  return target;
}

}  // namespace jarvis::cli
