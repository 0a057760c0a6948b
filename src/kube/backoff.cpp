#include "kube/backoff.hpp"

#include <algorithm>

namespace jarvis::kube {

Backoff::Backoff(std::chrono::milliseconds initial, std::chrono::milliseconds max, std::uint64_t seed)
    : initial_(std::max(initial, std::chrono::milliseconds(1))), max_(std::max(max, initial_)), random_(seed) {}

std::chrono::milliseconds Backoff::next() {
  std::chrono::milliseconds full = max_;
  if (failures_ < 40) full = std::min(max_, initial_ * (std::int64_t{1} << std::min(failures_, 40)));
  ++failures_;
  std::uniform_int_distribution<std::int64_t> half(full.count() / 2, full.count());
  return std::chrono::milliseconds(half(random_));
}

}  // namespace jarvis::kube
