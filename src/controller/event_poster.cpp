#include "controller/event_poster.hpp"

#include <algorithm>
#include <utility>

#include <boost/asio/co_spawn.hpp>

#include "common/coro.hpp"

namespace jarvis::controller {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

EventPoster::EventPoster(asio::any_io_executor executor, CommandApi& api, EventPosterOptions options, Logger& log,
                         Settled settled, ControllerMetrics* metrics)
    : executor_(std::move(executor)),
      api_(api),
      options_(options),
      log_(log),
      settled_(std::move(settled)),
      metrics_(metrics) {
  options_.concurrency = std::max<std::size_t>(options_.concurrency, 1);
}

EventPoster::~EventPoster() {
  if (metrics_) {
    metrics_->events_queued.set(0);
    metrics_->events_queued_bytes.set(0);
  }
}

void EventPoster::post(const std::string& key, const CommandMeta& meta, std::vector<EventSpec> events) {
  if (events.empty()) return;
  auto shared_key = std::make_shared<const std::string>(key);
  auto shared_meta = std::make_shared<const CommandMeta>(meta);
  const auto now = Clock::now();
  std::size_t deferred = 0;
  for (auto& event : events) {
    std::string id = meta.ns + "/" + event_object_name(meta, event.key);
    if (const auto found = entries_.find(id); found != entries_.end()) {
      const Stage stage = found->second.stage;
      if (stage == Stage::queued || stage == Stage::posting || stage == Stage::posted) continue;
    }
    auto& entry = entries_[id];
    by_command_[key].insert(id);
    entry.command_key = key;
    if (queued_bytes_ + event.message.size() > options_.max_queued_bytes) {
      // No room: the event stays owed in the status and is rebuilt from it once the queue has drained.
      entry.stage = Stage::deferred;
      deferred_commands_.insert(key);
      ++deferred;
      continue;
    }
    entry.stage = Stage::queued;
    queued_bytes_ += event.message.size();
    queue_.push_back(Pending{shared_key, shared_meta, std::move(event), std::move(id), now});
  }
  if (deferred > 0) {
    if (metrics_) metrics_->events_deferred.inc(static_cast<double>(deferred));
    log_.warn("event queue full; events left owed in the status, to be posted once it drains",
              {{"command", key}, {"events", deferred}, {"queued_bytes", queued_bytes_},
               {"max_queued_bytes", options_.max_queued_bytes}});
  }
  if (metrics_) {
    metrics_->events_queued.set(static_cast<double>(pending()));
    metrics_->events_queued_bytes.set(static_cast<double>(queued_bytes_));
  }
  // Lanes take events until the queue is empty; start as many as the queue can use, up to the bound.
  while (lanes_ < options_.concurrency && lanes_ < queue_.size() + posting_) {
    ++lanes_;
    asio::co_spawn(executor_, lane(), report_failure(log_, "posting events"));
  }
}

EventState EventPoster::event_state(const std::string& ns, const std::string& event_name) const {
  const auto it = entries_.find(ns + "/" + event_name);
  if (it == entries_.end()) return EventState::unknown;
  switch (it->second.stage) {
    case Stage::queued:
    case Stage::posting: return EventState::waiting;
    case Stage::posted: return EventState::posted;
    case Stage::failed: return Clock::now() < it->second.retry_at ? EventState::waiting : EventState::unknown;
    case Stage::deferred: return has_room_for_deferred() ? EventState::unknown : EventState::waiting;
  }
  return EventState::unknown;
}

void EventPoster::forget_events(const std::string& ns, const std::vector<std::string>& event_names) {
  for (const auto& name : event_names) {
    const std::string id = ns + "/" + name;
    const auto it = entries_.find(id);
    if (it == entries_.end() || it->second.stage == Stage::queued || it->second.stage == Stage::posting) continue;
    if (auto c = by_command_.find(it->second.command_key); c != by_command_.end()) {
      c->second.erase(id);
      if (c->second.empty()) by_command_.erase(c);
    }
    entries_.erase(it);
  }
}

void EventPoster::forget_command(const std::string& key) {
  const auto c = by_command_.find(key);
  if (c == by_command_.end()) return;
  std::set<std::string> kept;
  for (const auto& id : c->second) {
    const auto it = entries_.find(id);
    if (it == entries_.end()) continue;
    // Queued or in flight: its lane settles it (and needs the entry); everything else goes.
    if (it->second.stage == Stage::queued || it->second.stage == Stage::posting) {
      kept.insert(id);
      continue;
    }
    entries_.erase(it);
  }
  if (kept.empty()) by_command_.erase(c);
  else c->second = std::move(kept);
  deferred_commands_.erase(key);
}

void EventPoster::settle(const Pending& done, bool posted) {
  auto& entry = entries_[done.id];
  entry.command_key = *done.key;
  by_command_[*done.key].insert(done.id);
  if (posted) {
    entry.stage = Stage::posted;
    settled_(*done.key, std::chrono::milliseconds(0));
  } else {
    entry.stage = Stage::failed;
    entry.retry_at = Clock::now() + options_.retry_after_failure;
    settled_(*done.key, options_.retry_after_failure);
  }
  if (!deferred_commands_.empty() && has_room_for_deferred()) {
    const auto waiting = std::move(deferred_commands_);
    deferred_commands_.clear();
    for (const auto& key : waiting) settled_(key, std::chrono::milliseconds(0));
  }
}

asio::awaitable<void> EventPoster::lane() {
  // Counts this lane out however it ends, so a later post() starts a new one.
  struct Lane {
    std::size_t& lanes;
    ~Lane() { --lanes; }
  } counted{lanes_};
  while (!queue_.empty()) {
    Pending next = std::move(queue_.front());
    queue_.pop_front();
    entries_[next.id].stage = Stage::posting;
    ++posting_;
    in_flight_since_.insert(next.queued_at);
    auto posted = co_await api_.post_event(*next.meta, next.event);
    --posting_;
    queued_bytes_ -= std::min(queued_bytes_, next.event.message.size());
    in_flight_since_.erase(in_flight_since_.find(next.queued_at));
    if (!posted) {
      log_.warn("could not record event; it stays owed in the status and is posted again",
                {{"command", *next.key}, {"reason", next.event.reason}, {"event", next.id},
                 {"retry_in_ms", static_cast<std::int64_t>(options_.retry_after_failure.count())},
                 {"error", posted.error().message}});
    }
    settle(next, static_cast<bool>(posted));
    if (metrics_) {
      metrics_->events_queued.set(static_cast<double>(pending()));
      metrics_->events_queued_bytes.set(static_cast<double>(queued_bytes_));
    }
  }
}

void EventPoster::update_metrics() {
  const auto now = Clock::now();
  Clock::time_point oldest = now;
  if (!queue_.empty()) oldest = std::min(oldest, queue_.front().queued_at);
  if (!in_flight_since_.empty()) oldest = std::min(oldest, *in_flight_since_.begin());
  const double age = std::chrono::duration<double>(now - oldest).count();
  if (metrics_) {
    metrics_->events_queued.set(static_cast<double>(pending()));
    metrics_->events_queued_bytes.set(static_cast<double>(queued_bytes_));
    metrics_->events_oldest_queued_seconds.set(age);
  }
  if (now - oldest >= options_.stall_warning && now - last_stall_warning_ >= options_.stall_warning) {
    last_stall_warning_ = now;
    log_.warn("events are waiting long to be posted (the API server is slow or refusing them: see "
              "rest_client_requests_total{method=\"POST\"} and --kube-api-event-qps)",
              {{"queued", pending()}, {"oldest_seconds", static_cast<std::int64_t>(age)},
               {"queued_bytes", queued_bytes_}});
  }
}

}  // namespace jarvis::controller
