// Credential exec plugins (client.authentication.k8s.io/v1, as managed clusters use them): the program named
// by a kubeconfig user's `exec` prints an ExecCredential whose status.token is the bearer token, valid until
// status.expirationTimestamp (forever when absent). The token is cached until it expires, so the plugin runs
// once per token lifetime, not once per request; a 401 drops it and the next request runs the plugin again.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.hpp"
#include "kube/cluster_config.hpp"

namespace jarvis::kube {

struct ExecCredential {
  std::string token;
  std::optional<std::chrono::system_clock::time_point> expires;  // nullopt: does not expire
};

// Reads the plugin's output. Errors name `source` (the kubeconfig field) and what is wrong.
Result<ExecCredential> parse_exec_credential(std::string_view json, const ExecPluginConfig& plugin);

// Runs the plugin (PATH lookup for a bare name; its env added to ours; KUBERNETES_EXEC_INFO set; stdin
// /dev/null, stderr shared with ours) and returns what it printed. It blocks the caller for at most
// `timeout`, then the plugin is killed.
Result<std::string> run_exec_plugin(const ExecPluginConfig& plugin, std::chrono::milliseconds timeout);

// The token cache in front of a plugin. Single-threaded, like the client that owns it.
class ExecTokenCache {
 public:
  using Fetch = std::function<Result<ExecCredential>()>;

  explicit ExecTokenCache(Fetch fetch) : fetch_(std::move(fetch)) {}
  // A cache over `plugin`, run with run_exec_plugin.
  static ExecTokenCache for_plugin(ExecPluginConfig plugin);

  // The cached token while it is valid at `now`, else the plugin's new one.
  Result<std::string> token(std::chrono::system_clock::time_point now);
  // The server refused the token: the next token() runs the plugin.
  void invalidate() { cached_.reset(); }
  int fetches() const { return fetches_; }

 private:
  Fetch fetch_;
  std::optional<ExecCredential> cached_;
  int fetches_ = 0;
};

}  // namespace jarvis::kube
