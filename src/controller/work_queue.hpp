// The controller's queue of Command keys ("namespace/name"), shaped after client-go's workqueue: a key is
// queued at most once however often it is added (reconciles are level-based, so one pass covers every
// change), and a key being reconciled is never handed to a second worker; if it changes meanwhile, it is
// handed out again after done(). Failed keys come back after a per-key exponential backoff.
//
// Single-threaded: every member must be called on the queue's executor (a strand or a one-thread
// io_context), which is what makes the bookkeeping lock-free.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "controller/controller_metrics.hpp"

namespace jarvis::controller {

struct RetryBackoff {
  // Doubling from `base` for every consecutive failure of a key, never above `cap`. 500 ms first retries a
  // conflict or a blip promptly; 5 min keeps a permanently failing key from loading the API server.
  std::chrono::milliseconds base{500};
  std::chrono::milliseconds cap{std::chrono::minutes(5)};
};

// The delay before retry number `failures` + 1: base * 2^failures, capped.
std::chrono::milliseconds backoff_delay(const RetryBackoff& backoff, int failures);

class WorkQueue {
 public:
  // `metrics` (optional) receives client-go's workqueue metrics: depth, adds, retries, and the time from add
  // to get and from get to done.
  explicit WorkQueue(boost::asio::any_io_executor executor, RetryBackoff backoff = {},
                     WorkQueueMetrics* metrics = nullptr);
  // Shuts the queue down: waiting get() calls return nullopt.
  ~WorkQueue();
  WorkQueue(const WorkQueue&) = delete;
  WorkQueue& operator=(const WorkQueue&) = delete;

  void add(const std::string& key);
  // Adds the key once `delay` has passed. A key already waiting keeps the earlier of the two times.
  void add_after(const std::string& key, std::chrono::steady_clock::duration delay);
  // Adds the key after its backoff delay and counts the failure.
  void add_rate_limited(const std::string& key);
  // Clears the key's failure count: call after a successful reconcile.
  void forget(const std::string& key);
  int failures(const std::string& key) const;

  // The next key, marked as being processed until done(key); waits while the queue is empty. nullopt once
  // the queue is shut down or when the awaiting coroutine is cancelled.
  boost::asio::awaitable<std::optional<std::string>> get();
  void done(const std::string& key);

  // Stops handing out keys (even queued ones: a stopping controller reconciles nothing more) and ignores
  // further adds.
  void shut_down();
  bool shutting_down() const;

  // Sets the workqueue_unfinished_work_seconds and workqueue_longest_running_processor_seconds gauges from the
  // keys handed out and not done yet (client-go updates them every 500 ms; the controller does the same).
  void update_unfinished_work();

  std::size_t ready() const;    // keys queued for get()
  std::size_t waiting() const;  // keys scheduled by add_after / add_rate_limited, not yet due

 private:
  struct State;
  std::shared_ptr<State> state_;  // shared with pending timers and get() calls, which may outlive *this
};

}  // namespace jarvis::controller
