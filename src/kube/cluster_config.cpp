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
#include "kube/exec_credential.hpp"
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

// One kubeconfig file: where fields come from in messages, and the directory relative file names resolve
// against.
class KubeconfigFile {
 public:
  KubeconfigFile(std::string path, YAML::Node root) : path_(std::move(path)), root_(std::move(root)) {
    dir_ = fs::path(path_).parent_path();
  }

  std::string where(const std::string& field) const { return "kubeconfig " + path_ + ": " + field; }

  // The `inner` map of the entry named `name` in `list` (clusters, users, contexts); a null node when absent.
  Result<YAML::Node> find(const std::string& list, const std::string& inner, const std::string& name) const {
    YAML::Node entries = root_[list];
    if (entries && !entries.IsSequence()) return Error{where(list) + " is not a list"};
    for (const YAML::Node& entry : entries) {
      if (entry["name"] && entry["name"].as<std::string>() == name) {
        YAML::Node body = entry[inner];
        if (!body || !body.IsMap()) return Error{where(list) + " entry \"" + name + "\" has no " + inner + " map"};
        return body;
      }
    }
    return YAML::Node(YAML::NodeType::Null);
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

// Kubeconfig files merged the way kubectl merges $KUBECONFIG: the first file that has a name wins.
class MergedKubeconfig {
 public:
  explicit MergedKubeconfig(std::vector<KubeconfigFile> files) : files_(std::move(files)) {}

  struct Found {
    YAML::Node body;
    const KubeconfigFile* file;
  };

  Result<Found> named(const std::string& list, const std::string& inner, const std::string& name) const {
    for (const KubeconfigFile& file : files_) {
      auto body = file.find(list, inner, name);
      if (!body) return body.error();
      if (!body->IsNull()) return Found{*body, &file};
    }
    return Error{describe() + ": " + inner + " \"" + name + "\" not found in " + list};
  }

  // The first file's current-context that is set, and that file.
  std::pair<std::string, const KubeconfigFile*> current_context() const {
    for (const KubeconfigFile& file : files_) {
      YAML::Node value = file.root()["current-context"];
      if (value && value.IsScalar() && !value.as<std::string>().empty()) return {value.as<std::string>(), &file};
    }
    return {"", nullptr};
  }

  // "kubeconfig /a" or "kubeconfig /a:/b" for messages about the whole set.
  std::string describe() const {
    std::string text = "kubeconfig ";
    for (std::size_t i = 0; i < files_.size(); ++i) text += (i ? ":" : "") + files_[i].path();
    return text;
  }

 private:
  std::vector<KubeconfigFile> files_;
};

std::string scalar(const YAML::Node& node, const char* field) {
  YAML::Node value = node[field];
  return value && value.IsScalar() ? value.as<std::string>() : std::string{};
}

Result<ExecPluginConfig> read_exec(const KubeconfigFile& file, const YAML::Node& exec, const std::string& section) {
  ExecPluginConfig plugin;
  plugin.source = file.where(section);
  if (!exec.IsMap()) return Error{file.where(section) + " is not a map"};
  plugin.api_version = scalar(exec, "apiVersion");
  if (plugin.api_version != "client.authentication.k8s.io/v1" &&
      plugin.api_version != "client.authentication.k8s.io/v1beta1") {
    return Error{file.where(section + ".apiVersion") + ": \"" + plugin.api_version +
                 "\" is not supported; use client.authentication.k8s.io/v1 (or v1beta1)"};
  }
  plugin.command = scalar(exec, "command");
  if (plugin.command.empty()) return Error{file.where(section + ".command") + " is not set"};
  // As kubectl: a relative path with a directory part is relative to the kubeconfig; a bare name uses PATH.
  if (plugin.command.find('/') != std::string::npos) plugin.command = file.resolve(plugin.command);
  if (YAML::Node args = exec["args"]) {
    if (!args.IsSequence()) return Error{file.where(section + ".args") + " is not a list"};
    for (const YAML::Node& arg : args) plugin.args.push_back(arg.as<std::string>());
  }
  if (YAML::Node env = exec["env"]; env && !env.IsNull()) {
    if (!env.IsSequence()) return Error{file.where(section + ".env") + " is not a list of {name, value}"};
    for (const YAML::Node& entry : env) {
      std::string name = scalar(entry, "name");
      if (name.empty()) return Error{file.where(section + ".env") + ": an entry has no name"};
      plugin.env.emplace_back(name, scalar(entry, "value"));
    }
  }
  plugin.install_hint = scalar(exec, "installHint");
  return plugin;
}

Result<ClusterConfig> read_kubeconfig(const MergedKubeconfig& kc, std::string context_name) {
  ClusterConfig config;
  std::string context_origin = kc.describe();
  if (context_name.empty()) {
    auto [current, file] = kc.current_context();
    if (current.empty()) {
      return Error{kc.describe() + ": current-context is not set; set it with `kubectl config use-context NAME` "
                   "or pass --context"};
    }
    context_name = current;
    context_origin = "kubeconfig " + file->path();
  }
  config.context = context_name;
  auto context = kc.named("contexts", "context", context_name);
  if (!context) return context.error();
  config.source = "kubeconfig " + context->file->path() + " (context " + context_name + ")";
  const KubeconfigFile& context_file = *context->file;
  std::string cluster_name = scalar(context->body, "cluster");
  std::string user_name = scalar(context->body, "user");
  config.default_namespace = scalar(context->body, "namespace");
  if (cluster_name.empty()) return Error{context_file.where("context \"" + context_name + "\"") + " names no cluster"};

  auto cluster = kc.named("clusters", "cluster", cluster_name);
  if (!cluster) return cluster.error();
  const KubeconfigFile& cluster_file = *cluster->file;
  std::string cluster_section = "cluster \"" + cluster_name + "\"";
  config.server = scalar(cluster->body, "server");
  if (config.server.empty()) return Error{cluster_file.where(cluster_section + ".server") + " is not set"};
  if (auto parsed = parse_server_url(config); !parsed) {
    return Error{cluster_file.where(cluster_section + ".server") + ": " + parsed.error().message};
  }
  config.insecure_skip_verify = scalar(cluster->body, "insecure-skip-tls-verify") == "true";
  auto ca = cluster_file.data_or_file(cluster->body, cluster_section, "certificate-authority-data", "certificate-authority");
  if (!ca) return ca.error();
  config.ca_pem = std::move(*ca);

  if (user_name.empty()) return config;  // anonymous
  auto user = kc.named("users", "user", user_name);
  if (!user) return user.error();
  const KubeconfigFile& user_file = *user->file;
  std::string user_section = "user \"" + user_name + "\"";
  for (const char* unsupported : {"auth-provider", "username"}) {
    if (user->body[unsupported]) {
      return Error{user_file.where(user_section + "." + unsupported) +
                   " is not supported; use a token, tokenFile, client certificate and key, or an exec plugin"};
    }
  }
  if (YAML::Node exec = user->body["exec"]; exec && !exec.IsNull()) {
    auto plugin = read_exec(user_file, exec, user_section + ".exec");
    if (!plugin) return plugin.error();
    config.exec = std::move(*plugin);
  }
  config.token = scalar(user->body, "token");
  if (std::string file = scalar(user->body, "tokenFile"); !file.empty()) {
    config.token_file = user_file.resolve(file);
    if (auto token = read_file(config.token_file, user_file.where(user_section + ".tokenFile")); !token) return token.error();
  }
  auto cert = user_file.data_or_file(user->body, user_section, "client-certificate-data", "client-certificate");
  if (!cert) return cert.error();
  auto key = user_file.data_or_file(user->body, user_section, "client-key-data", "client-key");
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
  return load_kubeconfigs({path}, context);
}

Result<ClusterConfig> load_kubeconfigs(const std::vector<std::string>& paths, const std::string& context) {
  std::vector<KubeconfigFile> files;
  Error first_missing;
  for (const std::string& path : paths) {
    auto text = read_file(path, "kubeconfig");
    if (!text) {
      // kubectl skips files of $KUBECONFIG that do not exist; a single file must exist.
      if (paths.size() > 1 && !fs::exists(path)) {
        if (first_missing.message.empty()) first_missing = text.error();
        continue;
      }
      return Error{text.error().message + " (check --kubeconfig or KUBECONFIG)"};
    }
    try {
      // yaml-cpp reports malformed input and wrong node types by throwing; they are bad input, made values here.
      YAML::Node root = YAML::Load(*text);
      if (root.IsNull()) continue;  // an empty file adds nothing, as in kubectl
      if (!root.IsMap()) return Error{"kubeconfig " + path + ": not a YAML mapping"};
      files.emplace_back(path, root);
    } catch (const YAML::Exception& e) {
      return Error{"kubeconfig " + path + ": " + e.what()};
    }
  }
  if (files.empty()) {
    if (!first_missing.message.empty()) return Error{first_missing.message + " (check --kubeconfig or KUBECONFIG)"};
    std::string list;
    for (const auto& p : paths) list += (list.empty() ? "" : ":") + p;
    return Error{"kubeconfig " + list + ": empty; nothing to connect to (check --kubeconfig or KUBECONFIG)"};
  }
  Result<ClusterConfig> config = Error{};
  try {
    config = read_kubeconfig(MergedKubeconfig(std::move(files)), context);
  } catch (const YAML::Exception& e) {
    return Error{"kubeconfig: " + std::string(e.what())};
  }
  if (!config) return config;
  if (auto tls = make_tls_context(*config); !tls) return tls.error();
  if (config->exec.configured()) {
    config->exec_tokens = ExecTokenCache::for_plugin(config->exec);
  }
  return config;
}

std::vector<std::string> kubeconfig_env_paths() {
  std::vector<std::string> paths;
  const char* env = std::getenv("KUBECONFIG");
  if (env == nullptr) return paths;
  std::string_view list(env);
  while (!list.empty()) {
    auto colon = list.find(':');
    std::string_view entry = list.substr(0, colon);
    if (!entry.empty()) paths.emplace_back(entry);
    if (colon == std::string_view::npos) break;
    list.remove_prefix(colon + 1);
  }
  return paths;
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

Result<ClusterConfig> load_cluster_config(const std::string& kubeconfig_flag, const std::string& context) {
  if (!kubeconfig_flag.empty()) return load_kubeconfig(kubeconfig_flag, context);
  if (auto paths = kubeconfig_env_paths(); !paths.empty()) return load_kubeconfigs(paths, context);
  if (!context.empty()) return Error{"--context " + context + " needs a kubeconfig: pass --kubeconfig or set KUBECONFIG"};
  return load_in_cluster_config();
}

}  // namespace jarvis::kube
