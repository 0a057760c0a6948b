// Where the API server is and how to prove who we are: from a kubeconfig file (current context) or, inside a
// pod, from the service account. Every error is one line that names the file and field and says the fix.
#pragma once

#include <string>

#include "common/result.hpp"

namespace jarvis::kube {

struct ClusterConfig {
  std::string server;  // "https://host:port"
  std::string host, port;  // parsed from server (IPv6 without brackets)
  std::string ca_pem;      // certificate-authority-data or the certificate-authority file; in-cluster ca.crt
  bool insecure_skip_verify = false;
  std::string token;       // static bearer token (kubeconfig `token`)
  std::string token_file;  // re-read every minute and after a 401 (in-cluster projected token; kubeconfig tokenFile)
  std::string client_cert_pem, client_key_pem;  // from *-data or files
  std::string default_namespace;  // the context's namespace, or the service account's; may be empty
  std::string source;  // "kubeconfig /x/y (context admin)" or "in-cluster" — for messages
};

inline constexpr const char* kServiceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount";

// `kubeconfig_flag` when set, else the first file of $KUBECONFIG, else in-cluster.
Result<ClusterConfig> load_cluster_config(const std::string& kubeconfig_flag);

// The kubeconfig at `path`, its `current-context` (or `context` when not empty). Relative file names in it
// are resolved against the file's directory, as kubectl does.
Result<ClusterConfig> load_kubeconfig(const std::string& path, const std::string& context = {});

// In-cluster: https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT with the token, ca.crt and
// namespace files of `service_account_dir`.
Result<ClusterConfig> load_in_cluster_config(const std::string& service_account_dir = kServiceAccountDir);

// Splits "https://host[:port]" into config.host/port; only https is accepted.
Status parse_server_url(ClusterConfig& config);

}  // namespace jarvis::kube
