// Exponential backoff with jitter: the delay doubles from `initial` up to `max`, and each delay is drawn
// from [d/2, d] so that many clients failing together do not retry together.
#pragma once

#include <chrono>
#include <cstdint>
#include <random>

namespace jarvis::kube {

class Backoff {
 public:
  Backoff(std::chrono::milliseconds initial, std::chrono::milliseconds max, std::uint64_t seed = std::random_device{}());

  std::chrono::milliseconds next();
  void reset() { failures_ = 0; }
  int failures() const { return failures_; }

 private:
  std::chrono::milliseconds initial_;
  std::chrono::milliseconds max_;
  int failures_ = 0;
  std::mt19937_64 random_;
};

}  // namespace jarvis::kube
