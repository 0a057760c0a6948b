// What /readyz knows of the API server, flap-proof: the controller is "not answered" before any request got
// an HTTP answer, and again only once requests have failed without an answer for a whole `window` in a row.
// One failed request among answered ones (a connection reset, one timeout) does not flip readiness; a server
// that went away fails the watches at once and every retry after, so readiness turns false within `window`.
// Thread-safe: requests are observed on the event loop, /readyz is read on the endpoint's thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace jarvis::controller {

class ApiReachability {
 public:
  using Clock = std::chrono::steady_clock;
  explicit ApiReachability(std::chrono::milliseconds window = std::chrono::seconds(5)) : window_(window) {}

  // An attempt ended: with an HTTP answer (any status) or without one (refused, TLS, timeout).
  void observe(bool answered, Clock::time_point now = Clock::now());
  // Why the API server does not count as reachable at `now`, or nullopt when it does.
  std::optional<std::string> problem(Clock::time_point now = Clock::now()) const;

 private:
  static std::int64_t ticks(Clock::time_point t) { return t.time_since_epoch().count(); }
  static constexpr std::int64_t none = INT64_MIN;
  std::chrono::milliseconds window_;
  std::atomic<std::int64_t> last_answer_{none};
  std::atomic<std::int64_t> failing_since_{none};  // the first unanswered attempt since the last answer
};

}  // namespace jarvis::controller
