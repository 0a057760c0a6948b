// A cache of one kind of object kept up to date by list-then-watch (see reflector.hpp for the states and
// the no-loss/no-duplicate argument), with change notifications by key.
//
// Lists are paginated (`limit`, `continue`) and sent without resourceVersion, i.e. as consistent reads:
// a list never goes back in time behind what this process already saw, which the controller's exactly-once
// bookkeeping relies on, and current API servers serve such lists from their watch cache. So the relist
// after a 410 is always the "resourceVersion=\"\"" list client-go falls back to. An expired continue token
// restarts the list from the first page. Watches ask for bookmarks and end server-side after a random
// 300-600 s, then resume from the last resourceVersion.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "common/log.hpp"
#include "common/result.hpp"
#include "kube/client.hpp"
#include "kube/object_store.hpp"
#include "kube/reflector.hpp"

namespace jarvis::kube {

struct ResourceRef {
  // e.g. "/apis/jarvis.io/v1/commands", "/apis/jarvis.io/v1/namespaces/NS/commands", "/api/v1/nodes",
  // "/apis/discovery.k8s.io/v1/namespaces/jarvis/endpointslices"
  std::string list_path;
  std::string label_selector;  // e.g. "kubernetes.io/service-name=jarvis-agent"
  std::string field_selector;
  int page_size = 500;  // list `limit`, as client-go's pager
};

struct InformerOptions {
  int min_watch_seconds = 300;  // the server ends each watch after a random time in [min, max]
  int max_watch_seconds = 600;
  // A watch that brings nothing for its whole timeout plus this grace is considered dead.
  std::chrono::seconds idle_grace{30};
  std::chrono::milliseconds initial_backoff{500};  // after a failed list or watch
  std::chrono::milliseconds max_backoff{30'000};
};

// Counters for logs and tests.
struct InformerStats {
  std::uint64_t lists = 0;           // complete lists applied
  std::uint64_t list_pages = 0;
  std::uint64_t list_restarts = 0;   // lists restarted because their continue token expired
  std::uint64_t watches = 0;         // watch requests made
  std::uint64_t expired = 0;         // 410s that led to a relist (ERROR event or HTTP 410)
  std::uint64_t events = 0;          // watch events applied (including bookmarks)
  std::uint64_t bookmarks = 0;
  std::uint64_t failures = 0;        // failed lists/watches followed by a backoff
};

class Informer {
 public:
  using ChangeHandler = std::function<void(const std::string& key)>;

  Informer(Client& client, ResourceRef ref, Logger& log, InformerOptions options = {});
  Informer(const Informer&) = delete;
  Informer& operator=(const Informer&) = delete;

  // Adds a handler called on the executor after the store changed for `key` (added, modified, deleted),
  // and for every key after a relist. Handlers must not throw.
  void on_change(ChangeHandler handler);

  // Lists and watches until the coroutine is cancelled (then returns normally); failures are logged and
  // retried with backoff.
  boost::asio::awaitable<void> run();

  // Completes once the first list is in the store; an Error when cancelled first.
  boost::asio::awaitable<Status> wait_synced();

  const ObjectStore& store() const { return reflector_.store(); }
  bool has_synced() const { return synced_; }
  ReflectorPhase phase() const { return reflector_.phase(); }
  const InformerStats& stats() const { return stats_; }
  const ResourceRef& resource() const { return ref_; }

 private:
  boost::asio::awaitable<Status> list();
  boost::asio::awaitable<Status> watch();
  void notify(const std::vector<std::string>& keys);

  Client& client_;
  ResourceRef ref_;
  Logger& log_;
  InformerOptions options_;
  Reflector reflector_;
  std::vector<ChangeHandler> handlers_;
  bool synced_ = false;
  boost::asio::steady_timer synced_signal_;
  InformerStats stats_;
  std::mt19937 random_{std::random_device{}()};
};

}  // namespace jarvis::kube
