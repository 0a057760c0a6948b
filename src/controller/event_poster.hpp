// Posts the events of Commands' results in the background, in the order they were handed over, at most
// `concurrency` at once across all Commands. The reconcile that wrote the results to the status hands their
// events over and ends: the next status write of the same Command (more results) never waits for the events of
// the previous one, which on a big fleet are held to the event client's own rate limit (--kube-api-event-qps).
//
// Durable as the results are (command_status.hpp, eventsPending): an event is handed over only after the status
// write that recorded its result also recorded it as owed. This poster remembers what became of each event
// (EventView) so the next plan can drop the posted ones from the status, and post again the ones it gave up on
// (after the client's retries, then `retry_after_failure`) or never took. Every event has a fixed name
// (event_message.hpp), so posting one twice, from here or from another controller, creates it once.
//
// Bounded: the messages queued take at most `max_queued_bytes`. An event that does not fit is not queued (it
// stays owed in the status) and is handed over again, rebuilt from the status, once the queue has drained to
// half. Metrics: queued events and bytes, the age of the oldest, failures; a warning when the oldest waits longer
// than `stall_warning`.
#pragma once

#include <chrono>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "common/log.hpp"
#include "controller/command_api.hpp"
#include "controller/controller_metrics.hpp"

namespace jarvis::controller {

// What this process knows of an event (by namespace and Event name), as the plan asks.
enum class EventState {
  unknown,  // never handed over here, or given up on and due again: post it (again)
  waiting,  // queued or being posted, or waiting for its retry or for room in the queue: leave it
  posted,   // created (or found to exist already): drop it from status.eventsPending
};

class EventView {
 public:
  virtual ~EventView() = default;
  virtual EventState event_state(const std::string& ns, const std::string& event_name) const = 0;
};

struct EventPosterOptions {
  std::size_t concurrency = 16;
  std::size_t max_queued_bytes = 32 * 1024 * 1024;  // about 2,000 events of the largest size
  std::chrono::milliseconds retry_after_failure{10000};
  std::chrono::milliseconds stall_warning{30000};
};

class EventPoster final : public EventView {
 public:
  // `settled(key, delay)` is called when an event of the Command `key` was posted, or failed, or when room came
  // back for events that did not fit: the Command should be reconciled after `delay` (its status updated).
  using Settled = std::function<void(const std::string& key, std::chrono::milliseconds delay)>;
  EventPoster(boost::asio::any_io_executor executor, CommandApi& api, EventPosterOptions options, Logger& log,
              Settled settled, ControllerMetrics* metrics = nullptr);
  ~EventPoster() override;
  EventPoster(const EventPoster&) = delete;
  EventPoster& operator=(const EventPoster&) = delete;

  // Queues the events of the Command `key` (`meta` as written with their results). Events already queued,
  // being posted or posted are not queued twice.
  void post(const std::string& key, const CommandMeta& meta, std::vector<EventSpec> events);

  EventState event_state(const std::string& ns, const std::string& event_name) const override;
  // The status no longer owes these events (a write dropped them): forget them.
  void forget_events(const std::string& ns, const std::vector<std::string>& event_names);
  // The Command is gone or done with: forget what is known of its events.
  void forget_command(const std::string& key);

  // Events queued or being posted (the controller's shutdown waits for them, within its deadline).
  std::size_t pending() const { return queue_.size() + posting_; }
  // Sets the queue's gauges (depth, bytes, oldest age) and warns of a stall. Called every half second.
  void update_metrics();

 private:
  struct Pending {
    std::shared_ptr<const std::string> key;
    std::shared_ptr<const CommandMeta> meta;
    EventSpec event;
    std::string id;  // namespace/name
    std::chrono::steady_clock::time_point queued_at;
  };
  enum class Stage { queued, posting, posted, failed, deferred };
  struct Entry {
    Stage stage = Stage::queued;
    std::chrono::steady_clock::time_point retry_at;
    std::string command_key;
  };
  boost::asio::awaitable<void> lane();
  void settle(const Pending& done, bool posted);
  bool has_room_for_deferred() const { return queued_bytes_ <= options_.max_queued_bytes / 2; }

  boost::asio::any_io_executor executor_;
  CommandApi& api_;
  EventPosterOptions options_;
  Logger& log_;
  Settled settled_;
  ControllerMetrics* metrics_;
  std::deque<Pending> queue_;
  std::size_t queued_bytes_ = 0;  // messages in queue_ and being posted
  std::unordered_map<std::string, Entry> entries_;                 // by namespace/name
  std::unordered_map<std::string, std::set<std::string>> by_command_;  // Command key -> ids
  std::set<std::string> deferred_commands_;  // Commands with events that did not fit
  std::multiset<std::chrono::steady_clock::time_point> in_flight_since_;  // queued_at of the events being posted
  std::chrono::steady_clock::time_point last_stall_warning_{};
  std::size_t lanes_ = 0;    // coroutines taking events from the queue (the controller's run() destroys any
                             // left suspended before this poster: EventLoop::shutdown)
  std::size_t posting_ = 0;  // events taken and not yet answered
};

}  // namespace jarvis::controller
