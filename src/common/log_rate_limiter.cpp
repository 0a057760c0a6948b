#include "common/log_rate_limiter.hpp"

namespace jarvis {

LogRateLimiter::Decision LogRateLimiter::admit(std::string_view key, std::chrono::steady_clock::time_point now) {
  std::lock_guard lock(mu_);
  Budget* budget = nullptr;
  if (auto it = budgets_.find(std::string(key)); it != budgets_.end()) {
    budget = &it->second;
  } else {
    if (budgets_.size() >= max_keys_) {
      // Forget the keys whose window is over and that hold nothing back; if still full, share one budget.
      std::erase_if(budgets_, [&](const auto& entry) {
        return now - entry.second.window_start >= window_ && entry.second.suppressed == 0;
      });
    }
    budget = budgets_.size() < max_keys_ ? &budgets_[std::string(key)] : &overflow_;
    if (budget != &overflow_) budget->window_start = now;
  }
  if (now - budget->window_start >= window_) {
    budget->window_start = now;
    budget->written = 0;
  }
  if (budget->written >= lines_per_window_) {
    ++budget->suppressed;
    return {};
  }
  ++budget->written;
  const Decision d{true, budget->suppressed};
  budget->suppressed = 0;
  return d;
}

}  // namespace jarvis
