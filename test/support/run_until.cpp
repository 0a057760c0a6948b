#include "support/run_until.hpp"

#include <thread>

namespace jarvis::test {

namespace {
constexpr std::chrono::milliseconds tick{10};
}

bool run_until(boost::asio::io_context& io, const std::function<bool()>& done, std::chrono::milliseconds limit,
               const std::function<void()>& on_tick) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  auto next_tick = std::chrono::steady_clock::now();
  while (!done()) {
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return false;
    if (on_tick && now >= next_tick) {
      on_tick();
      next_tick = now + tick;
    }
    io.run_one_for(tick);
    if (io.stopped()) {
      if (done()) return true;
      io.restart();
      std::this_thread::sleep_for(tick);  // nothing queued: the condition depends on time alone
    }
  }
  return true;
}

bool eventually(const std::function<bool()>& done, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(tick);
  }
  return true;
}

}  // namespace jarvis::test
