// Client-side rate limit: a token bucket refilled at `qps` tokens per second holding at most `burst`.
// A caller that finds it empty still takes a token (the bucket goes into debt) and is told how long to wait,
// so waiting callers are served in arrival order without a queue.
#pragma once

#include <chrono>

namespace jarvis::kube {

class TokenBucket {
 public:
  using Clock = std::chrono::steady_clock;

  // qps <= 0 disables the limit.
  TokenBucket(double qps, int burst, Clock::time_point now);

  // Takes one token; returns how long the caller must wait before using it (zero when one was available).
  Clock::duration take(Clock::time_point now);

 private:
  double qps_;
  double burst_;
  double tokens_;
  Clock::time_point last_;
};

}  // namespace jarvis::kube
