// Posts the events of Commands' results in the background, in the order they were handed over, at most
// `concurrency` at once across all Commands. The reconcile that wrote the results to the status hands their
// events over and ends: the next status write of the same Command (more results) never waits for the events of
// the previous one, which on a big fleet are held to the event client's own rate limit (--kube-api-event-qps).
// The order the product keeps is unchanged: an event is handed over only after its result is in the status.
// A failed post is logged and dropped (the status holds the result either way).
#pragma once

#include <cstddef>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "common/log.hpp"
#include "controller/command_api.hpp"

namespace jarvis::controller {

class EventPoster {
 public:
  EventPoster(boost::asio::any_io_executor executor, CommandApi& api, std::size_t concurrency, Logger& log);
  EventPoster(const EventPoster&) = delete;
  EventPoster& operator=(const EventPoster&) = delete;

  // Queues the events of the Command `key` (`meta` as written with their results).
  void post(const std::string& key, const CommandMeta& meta, std::vector<EventSpec> events);

  // Events queued or being posted (the controller's shutdown waits for none, within its deadline).
  std::size_t pending() const { return queue_.size() + posting_; }

 private:
  struct Pending {
    std::shared_ptr<const std::string> key;
    std::shared_ptr<const CommandMeta> meta;
    EventSpec event;
  };
  boost::asio::awaitable<void> lane();

  boost::asio::any_io_executor executor_;
  CommandApi& api_;
  std::size_t concurrency_;
  Logger& log_;
  std::deque<Pending> queue_;
  std::size_t lanes_ = 0;    // coroutines taking events from the queue
  std::size_t posting_ = 0;  // events taken and not yet answered
};

}  // namespace jarvis::controller
