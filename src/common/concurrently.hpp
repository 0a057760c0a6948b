// for_each_concurrently: runs an awaitable per item with at most `limit` of them in flight, on the current
// executor, and returns when every one has finished. Used where many independent API writes (the events of
// a Command's results) would otherwise wait for each other's round trips.
//
// `fn(item)` returns awaitable<void> and reports its own expected failures (they are values, not exceptions).
// An exception escaping one of them (a bug, or the cancellation of the caller) is rethrown once all the others
// have ended; cancelling the caller cancels every one in flight and starts no more.
#pragma once

#include <algorithm>
#include <cstddef>
#include <exception>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace jarvis {

namespace detail {

template <class Item, class Fn>
struct SharedWork {
  const std::vector<Item>& items;
  Fn& fn;
  std::size_t next = 0;
};

// One lane: takes the next item until none is left. Runs on the executor's one thread, so `next` needs no lock.
template <class Item, class Fn>
boost::asio::awaitable<void> work_lane(SharedWork<Item, Fn>& work) {
  while (work.next < work.items.size()) {
    const Item& item = work.items[work.next++];
    co_await work.fn(item);
  }
}

}  // namespace detail

template <class Item, class Fn>
boost::asio::awaitable<void> for_each_concurrently(const std::vector<Item>& items, std::size_t limit, Fn fn) {
  if (items.empty()) co_return;
  auto executor = co_await boost::asio::this_coro::executor;
  detail::SharedWork<Item, Fn> work{items, fn};
  using Lane = decltype(boost::asio::co_spawn(executor, detail::work_lane(work), boost::asio::deferred));
  std::vector<Lane> lanes;
  const std::size_t count = std::clamp<std::size_t>(limit, 1, items.size());
  lanes.reserve(count);
  for (std::size_t i = 0; i < count; ++i)
    lanes.push_back(boost::asio::co_spawn(executor, detail::work_lane(work), boost::asio::deferred));
  auto [order, failures] = co_await boost::asio::experimental::make_parallel_group(std::move(lanes))
                               .async_wait(boost::asio::experimental::wait_for_all(), boost::asio::use_awaitable);
  (void)order;
  for (const auto& failure : failures)
    if (failure) std::rethrow_exception(failure);
}

}  // namespace jarvis
