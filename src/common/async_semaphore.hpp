// AsyncSemaphore: at most N holders at once among coroutines on one executor; the others wait in arrival
// order. Used to bound work that costs memory per unit in flight (the controller's agent connections).
// Not thread-safe: every acquire and release runs on the same executor.
#pragma once

#include <cstddef>
#include <deque>
#include <memory>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

namespace jarvis {

class AsyncSemaphore {
 public:
  // Releases its slot when destroyed; an empty Permit (cancelled wait) holds nothing.
  class Permit {
   public:
    Permit() = default;
    Permit(Permit&& other) noexcept : owner_(other.owner_) { other.owner_ = nullptr; }
    Permit& operator=(Permit&& other) noexcept;
    Permit(const Permit&) = delete;
    Permit& operator=(const Permit&) = delete;
    ~Permit() { reset(); }
    explicit operator bool() const { return owner_ != nullptr; }
    void reset();

   private:
    friend class AsyncSemaphore;
    explicit Permit(AsyncSemaphore* owner) : owner_(owner) {}
    AsyncSemaphore* owner_ = nullptr;
  };

  AsyncSemaphore(boost::asio::any_io_executor executor, std::size_t slots);
  AsyncSemaphore(const AsyncSemaphore&) = delete;
  AsyncSemaphore& operator=(const AsyncSemaphore&) = delete;

  // A permit as soon as a slot is free; an empty one if the awaiting coroutine is cancelled while it waits.
  boost::asio::awaitable<Permit> acquire();

  std::size_t available() const { return available_; }
  std::size_t waiting() const { return waiters_.size(); }

 private:
  struct Waiter {
    explicit Waiter(const boost::asio::any_io_executor& executor) : wake(executor) {}
    boost::asio::steady_timer wake;
    bool granted = false;
  };
  void release();

  boost::asio::any_io_executor executor_;
  std::size_t available_;
  std::deque<std::shared_ptr<Waiter>> waiters_;
};

}  // namespace jarvis
