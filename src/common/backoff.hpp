// Capped exponential backoff with jitter, the one used everywhere (API retries, watches, agent calls,
// certificates): the delay doubles from `initial` up to `max`, and each delay is drawn from [d/2, d] so that
// many clients failing together do not retry together.
#pragma once

#include <chrono>
#include <cstdint>
#include <random>

namespace jarvis {

// initial * 2^failures, never above max (and never below 1 ms): the delay before retry number failures + 1.
std::chrono::milliseconds capped_exponential(std::chrono::milliseconds initial, std::chrono::milliseconds max,
                                             int failures);

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

}  // namespace jarvis
