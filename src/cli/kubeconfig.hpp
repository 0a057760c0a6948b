// Where `kubectl jarvis` connects, read the way kubectl reads it, once at start (so a `kubectl config
// use-context` in another terminal cannot move a running command): --kubeconfig, else the files of
// $KUBECONFIG merged, else ~/.kube/config, else in-cluster; --context or the current context; -n or the
// context's namespace or "default".
#pragma once

#include <string>

#include "common/result.hpp"
#include "kube/cluster_config.hpp"

namespace jarvis::cli {

struct ConnectionFlags {
  std::string kubeconfig;
  std::string context;
  std::string ns;
};

struct PinnedTarget {
  kube::ClusterConfig config;
  std::string ns;
};

Result<PinnedTarget> pin_target(const ConnectionFlags& flags);

}  // namespace jarvis::cli
