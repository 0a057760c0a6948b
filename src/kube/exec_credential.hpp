// Credential exec plugins (client.authentication.k8s.io/v1, as managed clusters use them): the program named
// by a kubeconfig user's `exec` prints an ExecCredential whose status.token is the bearer token, valid until
// status.expirationTimestamp (forever when absent). The token is cached until it expires, so the plugin runs
// about twice per token lifetime (the second time ahead of the expiry, see ExecTokenCache), not once per
// request; a 401 drops it and the next request runs the plugin again. The plugin never runs on the caller's time: it is a child process read through the event loop, so a
// slow plugin delays only the requests that have no valid token, never the loop (informers, Lease renewal).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "common/log.hpp"
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
// /dev/null, stderr shared with ours) and returns what it printed, without blocking the executor: its output
// is read through a non-blocking pipe and its exit awaited through a pidfd. Past `timeout`, or when the
// calling coroutine is cancelled, the plugin is killed (SIGKILL) and reaped.
boost::asio::awaitable<Result<std::string>> run_exec_plugin(ExecPluginConfig plugin, std::chrono::milliseconds timeout);

// The token cache in front of a plugin, shared by the clients of one configuration; single-threaded, like
// the executor they run on. One plugin run at a time: a request that finds no valid token waits for the run
// in flight (starting one when there is none), never starts a second. A run is a task of its own, so a
// request that gives up waiting (its deadline, a cancelled Lease renewal) does not kill the run the others
// wait for. Once half of a token's lifetime (from when it arrived to its expiry) has passed, the next request
// starts a run in the background and goes on with the still-valid token: a plugin slower than the rest of the
// lifetime is then the only case in which requests wait. A failed background run is logged; the token in hand
// is used until it expires, then requests wait for a new run (whose failure they return).
class ExecTokenCache : public std::enable_shared_from_this<ExecTokenCache> {
 public:
  using Fetch = std::function<boost::asio::awaitable<Result<ExecCredential>>()>;
  using Now = std::function<std::chrono::system_clock::time_point()>;

  explicit ExecTokenCache(Fetch fetch, Now now = [] { return std::chrono::system_clock::now(); })
      : fetch_(std::move(fetch)), now_(std::move(now)) {}
  // A cache over `plugin`, run with run_exec_plugin (60 s to answer).
  static std::shared_ptr<ExecTokenCache> for_plugin(ExecPluginConfig plugin);

  // The cached token while it is valid, else the token of the plugin run in flight or of a new one. Failures
  // of the background task are logged to `log`.
  boost::asio::awaitable<Result<std::string>> token(Logger& log);
  // The server refused the token: the next token() runs the plugin (or waits for the run in flight).
  void invalidate() { cached_.reset(); }
  int fetches() const { return fetches_; }
  bool running() const { return running_ != nullptr; }

 private:
  struct Cached {
    ExecCredential credential;
    std::optional<std::chrono::system_clock::time_point> refresh_at;  // nullopt: never refreshed ahead
  };
  struct Run;
  std::shared_ptr<Run> start(boost::asio::any_io_executor executor, Logger& log);
  static boost::asio::awaitable<void> run(std::shared_ptr<ExecTokenCache> self, std::shared_ptr<Run> run,
                                          Logger& log);

  Fetch fetch_;
  Now now_;
  std::optional<Cached> cached_;
  std::shared_ptr<Run> running_;
  int fetches_ = 0;
};

}  // namespace jarvis::kube
