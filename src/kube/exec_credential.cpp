#include "kube/exec_credential.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>

#include "common/coro.hpp"
#include "common/json.hpp"
#include "common/time_format.hpp"

extern char** environ;

namespace jarvis::kube {

namespace asio = boost::asio;

namespace {

constexpr std::size_t kMaxOutput = 1024 * 1024;  // far more than any credential

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

// The plugin's process while it may still run: killed and reaped when the run ends early (its deadline, a
// cancelled caller, an event loop torn down). Reaping a SIGKILLed process takes the kernel microseconds.
class PluginProcess {
 public:
  explicit PluginProcess(pid_t pid) : pid_(pid) {}
  PluginProcess(const PluginProcess&) = delete;
  PluginProcess& operator=(const PluginProcess&) = delete;
  ~PluginProcess() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    reap(0);
  }
  // The exit status when the process has exited (it is then reaped), else nullopt.
  std::optional<siginfo_t> reap(int flags = WNOHANG) {
    siginfo_t info{};
    int rc = 0;
    while ((rc = ::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | flags)) < 0 && errno == EINTR) {
    }
    if (rc < 0 || info.si_pid == 0) return std::nullopt;
    pid_ = 0;
    return info;
  }

 private:
  pid_t pid_;
};

struct Spawned {
  pid_t pid = 0;
  int output = -1;  // the read end of its stdout
  int exited = -1;  // its pidfd: readable once it exited
};

Result<Spawned> spawn_plugin(const ExecPluginConfig& plugin) {
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
  // glibc 2.36 declares pidfd_open without C linkage for C++; the system call itself is stable (Linux 5.3).
  const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (pidfd < 0) {
    const int error = errno;
    PluginProcess killed(pid);
    close(out[0]);
    return Error{not_runnable(plugin, std::string("pidfd_open: ") + std::strerror(error))};
  }
  return Spawned{pid, out[0], pidfd};
}

// Everything the plugin prints until it closes its output, then its exit: awaited, never blocking.
asio::awaitable<std::string> read_until_exit(asio::posix::stream_descriptor& output,
                                             asio::posix::stream_descriptor& exited) {
  std::string text;
  char buffer[4096];
  for (;;) {
    auto [ec, n] = co_await output.async_read_some(asio::buffer(buffer), use_tuple);
    text.append(buffer, n);
    if (ec || text.size() > kMaxOutput) break;
  }
  // An error here (cancelled) leaves the process unreaped: the caller kills it.
  co_await exited.async_wait(asio::posix::descriptor_base::wait_read, use_tuple);
  co_return text;
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

asio::awaitable<Result<std::string>> run_exec_plugin(ExecPluginConfig plugin, std::chrono::milliseconds timeout) {
  auto spawned = spawn_plugin(plugin);
  if (!spawned) co_return spawned.error();
  PluginProcess process(spawned->pid);
  const auto executor = co_await asio::this_coro::executor;
  asio::posix::stream_descriptor output(executor, spawned->output);
  asio::posix::stream_descriptor exited(executor, spawned->exited);
  asio::steady_timer deadline(executor, timeout);
  using namespace asio::experimental::awaitable_operators;
  std::variant<std::string, std::tuple<boost::system::error_code>> first =
      co_await (read_until_exit(output, exited) || deadline.async_wait(use_tuple));
  if (is_cancelled(co_await asio::this_coro::cancellation_state)) co_return cancelled_error();
  const std::optional<siginfo_t> status = process.reap();
  if (first.index() == 1 || !status) {
    co_return Error{plugin.source + ": \"" + plugin.command + "\" did not answer within " +
                    std::to_string(timeout.count() / 1000) + " s and was killed"};
  }
  std::string& text = std::get<0>(first);
  const bool exited_normally = status->si_code == CLD_EXITED;
  if (exited_normally && status->si_status == 127 && text.empty()) co_return Error{not_runnable(plugin, "not found")};
  if (!exited_normally || status->si_status != 0) {
    std::string how = exited_normally ? "exited with status " + std::to_string(status->si_status)
                                      : "was killed by signal " + std::to_string(status->si_status);
    co_return Error{plugin.source + ": \"" + plugin.command + "\" " + how + " (its messages are above)"};
  }
  co_return std::move(text);
}

namespace {

asio::awaitable<Result<ExecCredential>> fetch_from(ExecPluginConfig plugin) {
  auto output = co_await run_exec_plugin(plugin, std::chrono::seconds(60));
  if (!output) co_return output.error();
  co_return parse_exec_credential(*output, plugin);
}

}  // namespace

// A plugin run the requests without a valid token wait for: `finished` never expires by itself; the run
// cancels it when `outcome` is set, which wakes every waiter at once.
struct ExecTokenCache::Run {
  explicit Run(asio::any_io_executor executor)
      : finished(std::move(executor), std::chrono::steady_clock::time_point::max()) {}
  asio::steady_timer finished;
  std::optional<Result<std::string>> outcome;
};

std::shared_ptr<ExecTokenCache> ExecTokenCache::for_plugin(ExecPluginConfig plugin) {
  return std::make_shared<ExecTokenCache>([plugin = std::move(plugin)] { return fetch_from(plugin); });
}

asio::awaitable<Result<std::string>> ExecTokenCache::token(Logger& log) {
  const auto executor = co_await asio::this_coro::executor;
  const auto now = now_();
  if (cached_ && (!cached_->credential.expires || now < *cached_->credential.expires)) {
    if (cached_->refresh_at && now >= *cached_->refresh_at && !running_) {
      cached_->refresh_at.reset();  // one background run per token
      start(executor, log);
    }
    co_return cached_->credential.token;
  }
  cached_.reset();
  std::shared_ptr<Run> run = running_;
  if (!run) run = start(executor, log);
  if (!run->outcome) {
    // Wakes when the run ends, or when this request is cancelled (the run goes on for the others).
    co_await run->finished.async_wait(use_tuple);
  }
  if (!run->outcome) co_return cancelled_error();
  co_return *run->outcome;
}

std::shared_ptr<ExecTokenCache::Run> ExecTokenCache::start(asio::any_io_executor executor, Logger& log) {
  auto started = std::make_shared<Run>(executor);
  running_ = started;
  ++fetches_;
  asio::co_spawn(executor, run(shared_from_this(), started, log), report_failure(log, "credential exec plugin"));
  return started;  // running_ is already empty again when the fetch needed no wait
}

asio::awaitable<void> ExecTokenCache::run(std::shared_ptr<ExecTokenCache> self, std::shared_ptr<Run> run,
                                          Logger& log) {
  Result<ExecCredential> fetched = co_await self->fetch_();
  if (fetched) {
    const auto arrived = self->now_();
    std::optional<std::chrono::system_clock::time_point> refresh_at;
    if (fetched->expires && *fetched->expires > arrived) refresh_at = arrived + (*fetched->expires - arrived) / 2;
    run->outcome = fetched->token;
    self->cached_ = Cached{std::move(*fetched), refresh_at};
  } else {
    run->outcome = fetched.error();
    if (self->cached_) {
      log.warn("could not renew the exec plugin's token ahead of its expiry; using it until it expires",
               {{"error", fetched.error().message}});
    }
  }
  self->running_.reset();
  run->finished.cancel();
}

}  // namespace jarvis::kube
