#include "kube/cluster_config.hpp"

#include <yaml-cpp/yaml.h>

#include <boost/asio/ip/address.hpp>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "kube/base64.hpp"
#include "kube/tls_context.hpp"

namespace jarvis::kube {

namespace {

namespace fs = std::filesystem;

Result<std::string> read_file(const std::string& path, const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error{what + ": cannot read " + path + ": " + std::strerror(errno)};
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return Error{what + ": error reading " + path};
  return text.str();
}

// Reads sections of one kubeconfig; file names in it are relative to the file's directory.
class KubeconfigReader {
 public:
  KubeconfigReader(std::string path, YAML::Node root) : path_(std::move(path)), root_(std::move(root)) {
    dir_ = fs::path(path_).parent_path();
  }

  std::string where(const std::string& field) const { return "kubeconfig " + path_ + ": " + field; }

  // The `inner` map of the entry named `name` in `list` (clusters, users, contexts).
  Result<YAML::Node> named(const std::string& list, const std::string& inner, const std::string& name) const {
    YAML::Node entries = root_[list];
    if (entries && !entries.IsSequence()) return Error{where(list) + " is not a list"};
    for (const YAML::Node& entry : entries) {
      if (entry["name"] && entry["name"].as<std::string>() == name) {
        YAML::Node body = entry[inner];
        if (!body || !body.IsMap()) return Error{where(list) + " entry \"" + name + "\" has no " + inner + " map"};
        return body;
      }
    }
    return Error{"kubeconfig " + path_ + ": " + inner + " \"" + name + "\" not found in " + list};
  }

  // `data_field` (base64) or `file_field` (a path) of `node`; "" when neither is set.
  Result<std::string> data_or_file(const YAML::Node& node, const std::string& section, const std::string& data_field,
                                   const std::string& file_field) const {
    if (YAML::Node data = node[data_field]) {
      auto decoded = base64_decode(data.as<std::string>());
      if (!decoded) return Error{where(section + "." + data_field) + " is not valid base64"};
      return *decoded;
    }
    if (YAML::Node file = node[file_field]) return read_file(resolve(file.as<std::string>()), where(section + "." + file_field));
    return std::string{};
  }

  std::string resolve(const std::string& file) const {
    fs::path p(file);
    if (p.is_absolute() || dir_.empty()) return file;
    return (dir_ / p).string();
  }

  const YAML::Node& root() const { return root_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  fs::path dir_;
  YAML::Node root_;
};

std::string scalar(const YAML::Node& node, const char* field) {
  YAML::Node value = node[field];
  return value && value.IsScalar() ? value.as<std::string>() : std::string{};
}

Result<ClusterConfig> read_kubeconfig(const KubeconfigReader& kc, std::string context_name) {
  ClusterConfig config;
  if (context_name.empty()) context_name = scalar(kc.root(), "current-context");
  if (context_name.empty()) {
    return Error{kc.where("current-context") + " is not set; set it with `kubectl config use-context NAME`"};
  }
  config.source = "kubeconfig " + kc.path() + " (context " + context_name + ")";
  auto context = kc.named("contexts", "context", context_name);
  if (!context) return context.error();
  std::string cluster_name = scalar(*context, "cluster");
  std::string user_name = scalar(*context, "user");
  config.default_namespace = scalar(*context, "namespace");
  if (cluster_name.empty()) return Error{kc.where("context \"" + context_name + "\"") + " names no cluster"};

  auto cluster = kc.named("clusters", "cluster", cluster_name);
  if (!cluster) return cluster.error();
  std::string cluster_section = "cluster \"" + cluster_name + "\"";
  config.server = scalar(*cluster, "server");
  if (config.server.empty()) return Error{kc.where(cluster_section + ".server") + " is not set"};
  if (auto parsed = parse_server_url(config); !parsed) return Error{kc.where(cluster_section + ".server") + ": " + parsed.error().message};
  config.insecure_skip_verify = scalar(*cluster, "insecure-skip-tls-verify") == "true";
  auto ca = kc.data_or_file(*cluster, cluster_section, "certificate-authority-data", "certificate-authority");
  if (!ca) return ca.error();
  config.ca_pem = std::move(*ca);

  if (user_name.empty()) return config;  // anonymous
  auto user = kc.named("users", "user", user_name);
  if (!user) return user.error();
  std::string user_section = "user \"" + user_name + "\"";
  for (const char* unsupported : {"exec", "auth-provider", "username"}) {
    if ((*user)[unsupported]) {
      return Error{kc.where(user_section + "." + unsupported) +
                   " is not supported; use a token, tokenFile or client certificate and key"};
    }
  }
  config.token = scalar(*user, "token");
  if (std::string file = scalar(*user, "tokenFile"); !file.empty()) {
    config.token_file = kc.resolve(file);
    if (auto token = read_file(config.token_file, kc.where(user_section + ".tokenFile")); !token) return token.error();
  }
  auto cert = kc.data_or_file(*user, user_section, "client-certificate-data", "client-certificate");
  if (!cert) return cert.error();
  auto key = kc.data_or_file(*user, user_section, "client-key-data", "client-key");
  if (!key) return key.error();
  config.client_cert_pem = std::move(*cert);
  config.client_key_pem = std::move(*key);
  return config;
}

}  // namespace

Status parse_server_url(ClusterConfig& config) {
  std::string_view url = config.server;
  constexpr std::string_view scheme = "https://";
  if (url.substr(0, scheme.size()) != scheme) return Error{"\"" + config.server + "\" is not an https:// URL"};
  url.remove_prefix(scheme.size());
  if (auto slash = url.find('/'); slash != std::string_view::npos) {
    if (url.substr(slash) != "/") return Error{"\"" + config.server + "\": a path after the host is not supported"};
    url = url.substr(0, slash);
  }
  std::string_view host = url;
  std::string_view port = "443";
  if (!url.empty() && url.front() == '[') {
    auto close = url.find(']');
    if (close == std::string_view::npos) return Error{"\"" + config.server + "\": unterminated [IPv6] host"};
    host = url.substr(1, close - 1);
    std::string_view rest = url.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return Error{"\"" + config.server + "\": junk after the [IPv6] host"};
      port = rest.substr(1);
    }
  } else if (auto colon = url.rfind(':'); colon != std::string_view::npos) {
    host = url.substr(0, colon);
    port = url.substr(colon + 1);
  }
  if (host.empty()) return Error{"\"" + config.server + "\" has no host"};
  if (port.empty() || port.find_first_not_of("0123456789") != std::string_view::npos || port.size() > 5 ||
      std::stoi(std::string(port)) > 65535 || std::stoi(std::string(port)) == 0) {
    return Error{"\"" + config.server + "\" has an invalid port"};
  }
  config.host = host;
  config.port = port;
  return Ok{};
}

Result<ClusterConfig> load_kubeconfig(const std::string& path, const std::string& context) {
  auto text = read_file(path, "kubeconfig");
  if (!text) return Error{text.error().message + " (check --kubeconfig or KUBECONFIG)"};
  Result<ClusterConfig> config = Error{};
  try {
    // yaml-cpp reports malformed input and wrong node types by throwing; they are bad input, made values here.
    YAML::Node root = YAML::Load(*text);
    if (!root.IsMap()) return Error{"kubeconfig " + path + ": not a YAML mapping"};
    config = read_kubeconfig(KubeconfigReader(path, root), context);
  } catch (const YAML::Exception& e) {
    return Error{"kubeconfig " + path + ": " + e.what()};
  }
  if (!config) return config;
  if (auto tls = make_tls_context(*config); !tls) return tls.error();
  return config;
}

Result<ClusterConfig> load_in_cluster_config(const std::string& service_account_dir) {
  const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
  const char* port = std::getenv("KUBERNETES_SERVICE_PORT");
  if (host == nullptr || *host == '\0' || port == nullptr || *port == '\0') {
    return Error{"in-cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set; "
                 "outside a pod pass --kubeconfig or set KUBECONFIG"};
  }
  ClusterConfig config;
  config.source = "in-cluster";
  boost::system::error_code ec;
  bool ipv6 = boost::asio::ip::make_address(host, ec).is_v6() && !ec;
  config.server = std::string("https://") + (ipv6 ? "[" : "") + host + (ipv6 ? "]" : "") + ":" + port;
  if (auto parsed = parse_server_url(config); !parsed) return Error{"in-cluster: " + parsed.error().message};
  std::string dir = service_account_dir;
  config.token_file = dir + "/token";
  auto token = read_file(config.token_file, "in-cluster service account token");
  if (!token) return token.error();
  auto ca = read_file(dir + "/ca.crt", "in-cluster CA");
  if (!ca) return ca.error();
  config.ca_pem = std::move(*ca);
  if (auto ns = read_file(dir + "/namespace", "in-cluster namespace")) config.default_namespace = *ns;
  if (auto tls = make_tls_context(config); !tls) return tls.error();
  return config;
}

Result<ClusterConfig> load_cluster_config(const std::string& kubeconfig_flag) {
  if (!kubeconfig_flag.empty()) return load_kubeconfig(kubeconfig_flag);
  if (const char* env = std::getenv("KUBECONFIG"); env != nullptr && *env != '\0') {
    std::string list(env);
    std::string first = list.substr(0, list.find(':'));
    if (!first.empty()) return load_kubeconfig(first);
  }
  return load_in_cluster_config();
}

}  // namespace jarvis::kube
