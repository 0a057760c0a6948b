#include "common/backoff.hpp"

#include <algorithm>

namespace jarvis {

Backoff::Backoff(std::chrono::milliseconds initial, std::chrono::milliseconds max, std::uint64_t seed)
    : initial_(std::max(initial, std::chrono::milliseconds(1))), max_(std::max(max, initial_)), random_(seed) {}

std::chrono::milliseconds capped_exponential(std::chrono::milliseconds initial, std::chrono::milliseconds max,
                                             int failures) {
  initial = std::max(initial, std::chrono::milliseconds(1));
  max = std::max(max, initial);
  if (failures < 0) failures = 0;
  if (failures >= 40) return max;
  // Doubling stops as soon as the cap is reached, so the product never overflows.
  std::chrono::milliseconds d = initial;
  for (int i = 0; i < failures && d < max; ++i) d *= 2;
  return std::min(d, max);
}

std::chrono::milliseconds Backoff::next() {
  const std::chrono::milliseconds full = capped_exponential(initial_, max_, failures_);
  ++failures_;
  std::uniform_int_distribution<std::int64_t> half(full.count() / 2, full.count());
  return std::chrono::milliseconds(half(random_));
}

}  // namespace jarvis
