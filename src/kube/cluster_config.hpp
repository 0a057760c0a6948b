// Where the API server is and how to prove who we are: from a kubeconfig file (current context) or, inside a
// pod, from the service account. Every error is one line that names the file and field and says the fix.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/result.hpp"

namespace jarvis::kube {

class ExecTokenCache;

// A kubeconfig user's credential `exec` plugin (client.authentication.k8s.io/v1 or v1beta1): a program
// that prints an ExecCredential whose status.token is sent as the bearer token (see exec_credential.hpp).
struct ExecPluginConfig {
  std::string api_version;  // the ExecCredential apiVersion asked for and expected back
  std::string command;      // a bare name is looked up on PATH; a relative path is the kubeconfig's directory's
  std::vector<std::string> args;
  std::vector<std::pair<std::string, std::string>> env;  // added to the inherited environment
  std::string install_hint;                              // shown when the command cannot be run
  std::string source;                                    // "kubeconfig /x/y: user \"u\".exec" for messages

  bool configured() const { return !command.empty(); }
};

struct ClusterConfig {
  std::string server;  // "https://host:port"
  std::string host, port;  // parsed from server (IPv6 without brackets)
  std::string ca_pem;      // certificate-authority-data or the certificate-authority file; in-cluster ca.crt
  bool insecure_skip_verify = false;
  std::string token;       // static bearer token (kubeconfig `token`)
  std::string token_file;  // re-read every minute and after a 401 (in-cluster projected token; kubeconfig tokenFile)
  std::string client_cert_pem, client_key_pem;  // from *-data or files
  ExecPluginConfig exec;   // the user's credential plugin, when it has one
  // The plugin's token cache, shared by every client made from this configuration (the controller's API and
  // events clients), so the plugin runs once per token lifetime for the whole process.
  std::shared_ptr<ExecTokenCache> exec_tokens;
  std::string default_namespace;  // the context's namespace, or the service account's; may be empty
  std::string source;  // "kubeconfig /x/y (context admin)" or "in-cluster" — for messages
  std::string context;  // the kubeconfig context used; "" in-cluster
};

inline constexpr const char* kServiceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount";

// `kubeconfig_flag` when set, else the files of $KUBECONFIG merged, else in-cluster. `context` overrides the
// current-context when not empty.
Result<ClusterConfig> load_cluster_config(const std::string& kubeconfig_flag, const std::string& context = {});

// The kubeconfig at `path`, its `current-context` (or `context` when not empty). Relative file names in it
// are resolved against the file's directory, as kubectl does.
Result<ClusterConfig> load_kubeconfig(const std::string& path, const std::string& context = {});

// Several kubeconfig files merged as kubectl merges $KUBECONFIG: for each cluster, user and context name and
// for current-context, the first file that sets it wins; files that do not exist are skipped (an error
// only when none exists). Relative file names resolve against the directory of the file they come from.
Result<ClusterConfig> load_kubeconfigs(const std::vector<std::string>& paths, const std::string& context = {});

// $KUBECONFIG split on ':' (empty entries dropped).
std::vector<std::string> kubeconfig_env_paths();

// In-cluster: https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT with the token, ca.crt and
// namespace files of `service_account_dir`.
Result<ClusterConfig> load_in_cluster_config(const std::string& service_account_dir = kServiceAccountDir);

// Splits "https://host[:port]" into config.host/port; only https is accepted.
Status parse_server_url(ClusterConfig& config);

}  // namespace jarvis::kube
