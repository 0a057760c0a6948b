// Liveness of an event loop: the loop calls beat() from a timer, the probe thread asks age(). A loop that
// is blocked or dead stops beating, so /healthz fails and the kubelet restarts the process.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace jarvis::observability {

class Heartbeat {
 public:
  using Clock = std::chrono::steady_clock;
  Heartbeat() { beat(); }
  void beat(Clock::time_point now = Clock::now()) {
    last_.store(now.time_since_epoch().count(), std::memory_order_relaxed);
  }
  Clock::duration age(Clock::time_point now = Clock::now()) const {
    return now - Clock::time_point(Clock::duration(last_.load(std::memory_order_relaxed)));
  }

  // Four beats fit in stale_after. Each beat wakes the process: on a fleet every idle agent pays it, so it is
  // not more often than the probe needs.
  static constexpr auto interval = std::chrono::seconds(5);
  // A loop that missed this many seconds of beats is taken for stuck: far above any legitimate pause
  // (a slow list of 1,000 Nodes is parsed in well under a second), far below the kubelet's patience.
  static constexpr auto stale_after = std::chrono::seconds(20);

 private:
  std::atomic<Clock::rep> last_{0};
};

}  // namespace jarvis::observability
