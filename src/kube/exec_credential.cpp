#include "kube/exec_credential.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <vector>

#include "common/json.hpp"
#include "common/time_format.hpp"

extern char** environ;

namespace jarvis::kube {

namespace {

std::string exec_info(const ExecPluginConfig& plugin) {
  return R"({"apiVersion":")" + plugin.api_version + R"(","kind":"ExecCredential","spec":{"interactive":false}})";
}

// The environment of the plugin: ours, then the kubeconfig's entries, then KUBERNETES_EXEC_INFO.
std::vector<std::string> plugin_environment(const ExecPluginConfig& plugin) {
  std::map<std::string, std::string> vars;
  std::vector<std::string> order;
  auto set = [&](const std::string& name, const std::string& value) {
    if (!vars.contains(name)) order.push_back(name);
    vars[name] = value;
  };
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    std::string_view text(*entry);
    auto eq = text.find('=');
    if (eq == std::string_view::npos) continue;
    set(std::string(text.substr(0, eq)), std::string(text.substr(eq + 1)));
  }
  for (const auto& [name, value] : plugin.env) set(name, value);
  set("KUBERNETES_EXEC_INFO", exec_info(plugin));
  std::vector<std::string> result;
  for (const auto& name : order) result.push_back(name + "=" + vars[name]);
  return result;
}

std::string not_runnable(const ExecPluginConfig& plugin, const std::string& why) {
  std::string text = plugin.source + ": cannot run \"" + plugin.command + "\": " + why;
  if (!plugin.install_hint.empty()) text += " (" + plugin.install_hint + ")";
  return text;
}

}  // namespace

Result<ExecCredential> parse_exec_credential(std::string_view json, const ExecPluginConfig& plugin) {
  std::string what = plugin.source + ": the output of \"" + plugin.command + "\"";
  auto doc = parse_json(json, what);
  if (!doc) return doc.error();
  if (!doc->IsObject()) return Error{what + " is not an ExecCredential object"};
  auto kind = string_at(*doc, {"kind"});
  if (kind != "ExecCredential") return Error{what + ": kind is not ExecCredential"};
  auto api_version = string_at(*doc, {"apiVersion"});
  if (api_version != plugin.api_version) {
    return Error{what + ": apiVersion " + std::string(api_version.value_or("(none)")) + " differs from the " +
                 plugin.api_version + " the kubeconfig asks for"};
  }
  ExecCredential credential;
  if (auto token = string_at(*doc, {"status", "token"})) credential.token = *token;
  if (credential.token.empty()) {
    if (value_at(*doc, {"status", "clientCertificateData"}) != nullptr) {
      return Error{what + ": client certificates from exec plugins are not supported; the plugin must return status.token"};
    }
    return Error{what + ": status.token is missing or empty"};
  }
  if (auto expiry = string_at(*doc, {"status", "expirationTimestamp"})) {
    auto parsed = parse_rfc3339(*expiry);
    if (!parsed) return Error{what + ": status.expirationTimestamp \"" + std::string(*expiry) + "\" is not RFC 3339"};
    credential.expires = *parsed;
  }
  return credential;
}

Result<std::string> run_exec_plugin(const ExecPluginConfig& plugin, std::chrono::milliseconds timeout) {
  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) return Error{not_runnable(plugin, std::string("pipe: ") + std::strerror(errno))};
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);

  std::vector<std::string> args{plugin.command};
  args.insert(args.end(), plugin.args.begin(), plugin.args.end());
  std::vector<char*> argv;
  for (auto& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  std::vector<std::string> env = plugin_environment(plugin);
  std::vector<char*> envp;
  for (auto& var : env) envp.push_back(var.data());
  envp.push_back(nullptr);

  pid_t pid = 0;
  int spawned = posix_spawnp(&pid, plugin.command.c_str(), &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  close(out[1]);
  if (spawned != 0) {
    close(out[0]);
    return Error{not_runnable(plugin, std::strerror(spawned))};
  }

  std::string output;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  bool timed_out = false;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    pollfd fd{out[0], POLLIN, 0};
    int ready = poll(&fd, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) {
      timed_out = ready == 0;
      break;
    }
    char buffer[4096];
    ssize_t n = read(out[0], buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    output.append(buffer, static_cast<std::size_t>(n));
    if (output.size() > 1024 * 1024) break;  // far more than any credential
  }
  close(out[0]);
  if (timed_out) kill(pid, SIGKILL);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (timed_out) {
    return Error{plugin.source + ": \"" + plugin.command + "\" did not answer within " +
                 std::to_string(timeout.count() / 1000) + " s and was killed"};
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 127 && output.empty()) {
    return Error{not_runnable(plugin, "not found")};
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::string how = WIFEXITED(status) ? "exited with status " + std::to_string(WEXITSTATUS(status))
                                        : "was killed by signal " + std::to_string(WTERMSIG(status));
    return Error{plugin.source + ": \"" + plugin.command + "\" " + how + " (its messages are above)"};
  }
  return output;
}

ExecTokenCache ExecTokenCache::for_plugin(ExecPluginConfig plugin) {
  return ExecTokenCache([plugin = std::move(plugin)]() -> Result<ExecCredential> {
    auto output = run_exec_plugin(plugin, std::chrono::seconds(60));
    if (!output) return output.error();
    return parse_exec_credential(*output, plugin);
  });
}

Result<std::string> ExecTokenCache::token(std::chrono::system_clock::time_point now) {
  if (cached_ && (!cached_->expires || now < *cached_->expires)) return cached_->token;
  cached_.reset();
  ++fetches_;
  auto fetched = fetch_();
  if (!fetched) return fetched.error();
  cached_ = std::move(*fetched);
  return cached_->token;
}

}  // namespace jarvis::kube
