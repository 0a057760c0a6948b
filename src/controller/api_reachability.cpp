#include "controller/api_reachability.hpp"

namespace jarvis::controller {

void ApiReachability::observe(bool answered, Clock::time_point now) {
  if (answered) {
    last_answer_.store(ticks(now), std::memory_order_relaxed);
    failing_since_.store(none, std::memory_order_relaxed);
    return;
  }
  std::int64_t expected = none;
  failing_since_.compare_exchange_strong(expected, ticks(now), std::memory_order_relaxed);
}

std::optional<std::string> ApiReachability::problem(Clock::time_point now) const {
  if (last_answer_.load(std::memory_order_relaxed) == none) return "the API server has not answered yet";
  const std::int64_t since = failing_since_.load(std::memory_order_relaxed);
  if (since == none) return std::nullopt;
  const auto failing_for = now - Clock::time_point(Clock::duration(since));
  if (failing_for < window_) return std::nullopt;
  return "the API server has not answered for " +
         std::to_string(std::chrono::duration_cast<std::chrono::seconds>(failing_for).count()) + " s";
}

}  // namespace jarvis::controller
