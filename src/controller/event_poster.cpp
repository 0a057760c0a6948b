#include "controller/event_poster.hpp"

#include <algorithm>
#include <utility>

#include <boost/asio/co_spawn.hpp>

#include "common/coro.hpp"

namespace jarvis::controller {

namespace asio = boost::asio;

EventPoster::EventPoster(asio::any_io_executor executor, CommandApi& api, std::size_t concurrency, Logger& log)
    : executor_(std::move(executor)), api_(api), concurrency_(std::max<std::size_t>(concurrency, 1)), log_(log) {}

void EventPoster::post(const std::string& key, const CommandMeta& meta, std::vector<EventSpec> events) {
  if (events.empty()) return;
  auto shared_key = std::make_shared<const std::string>(key);
  auto shared_meta = std::make_shared<const CommandMeta>(meta);
  for (auto& event : events) queue_.push_back(Pending{shared_key, shared_meta, std::move(event)});
  // Lanes take events until the queue is empty; start as many as the queue can use, up to the bound.
  while (lanes_ < concurrency_ && lanes_ < queue_.size() + posting_) {
    ++lanes_;
    asio::co_spawn(executor_, lane(), report_failure(log_, "posting events"));
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
    ++posting_;
    auto posted = co_await api_.post_event(*next.meta, next.event);
    --posting_;
    if (!posted) {
      log_.warn("could not record event",
                {{"command", *next.key}, {"reason", next.event.reason}, {"error", posted.error().message}});
    }
  }
}

}  // namespace jarvis::controller
