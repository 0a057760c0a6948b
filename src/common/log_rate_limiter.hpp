// Bounds how often lines of one kind are logged, so a flood of the same cause (a port scanner's failed
// handshakes, gRPC repeating one error) cannot flood the log. Per key (a source line, a peer address): at
// most `lines_per_window` lines in each window; the rest are counted, and the next line written for that key
// says how many were held back ("suppressed"). At most `max_keys` keys are remembered; beyond them every key
// shares one budget, so memory stays bounded whatever the number of peers. Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace jarvis {

class LogRateLimiter {
 public:
  LogRateLimiter(std::uint32_t lines_per_window, std::chrono::steady_clock::duration window,
                 std::size_t max_keys = 1024)
      : lines_per_window_(lines_per_window), window_(window), max_keys_(max_keys) {}

  struct Decision {
    bool write = false;
    std::uint64_t suppressed = 0;  // lines of this key held back since the last one written
  };
  Decision admit(std::string_view key, std::chrono::steady_clock::time_point now = std::chrono::steady_clock::now());

 private:
  struct Budget {
    std::chrono::steady_clock::time_point window_start;
    std::uint32_t written = 0;
    std::uint64_t suppressed = 0;
  };
  std::uint32_t lines_per_window_;
  std::chrono::steady_clock::duration window_;
  std::size_t max_keys_;
  std::mutex mu_;
  std::unordered_map<std::string, Budget> budgets_;
  Budget overflow_;  // shared by keys beyond max_keys
};

}  // namespace jarvis
