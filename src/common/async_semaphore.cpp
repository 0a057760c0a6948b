#include "common/async_semaphore.hpp"

#include <algorithm>

#include "common/coro.hpp"

namespace jarvis {

AsyncSemaphore::Permit& AsyncSemaphore::Permit::operator=(Permit&& other) noexcept {
  if (this != &other) {
    reset();
    owner_ = other.owner_;
    other.owner_ = nullptr;
  }
  return *this;
}

void AsyncSemaphore::Permit::reset() {
  if (owner_ != nullptr) std::exchange(owner_, nullptr)->release();
}

AsyncSemaphore::AsyncSemaphore(boost::asio::any_io_executor executor, std::size_t slots)
    : executor_(std::move(executor)), available_(std::max<std::size_t>(slots, 1)) {}

boost::asio::awaitable<AsyncSemaphore::Permit> AsyncSemaphore::acquire() {
  if (available_ > 0 && waiters_.empty()) {
    --available_;
    co_return Permit(this);
  }
  auto waiter = std::make_shared<Waiter>(executor_);
  waiter->wake.expires_at(boost::asio::steady_timer::time_point::max());
  waiters_.push_back(waiter);
  // release() hands the slot over (granted) and cancels the timer; a cancellation of ours ends the wait too.
  co_await waiter->wake.async_wait(use_tuple);
  if (waiter->granted) co_return Permit(this);
  std::erase(waiters_, waiter);
  co_return Permit{};
}

void AsyncSemaphore::release() {
  if (waiters_.empty()) {
    ++available_;
    return;
  }
  auto next = std::move(waiters_.front());
  waiters_.pop_front();
  next->granted = true;
  next->wake.cancel();
}

}  // namespace jarvis
