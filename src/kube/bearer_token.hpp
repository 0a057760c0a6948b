// The bearer token sent with every request: a static kubeconfig token, or a token file that is re-read at
// least every minute and right after a 401, because projected service-account tokens rotate (client-go does
// the same). A failed re-read keeps the last good token and says so in the log.
#pragma once

#include <chrono>
#include <string>

#include "common/log.hpp"

namespace jarvis::kube {

class BearerToken {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::chrono::seconds kRereadInterval{60};

  BearerToken(std::string token, std::string token_file, Logger& log);

  // The token to send now; "" for none.
  const std::string& get(Clock::time_point now);
  // The server rejected the token: the next get() re-reads the file. False when there is nothing to re-read.
  bool refresh_after_unauthorized();

 private:
  void reread(Clock::time_point now);

  std::string token_;
  std::string token_file_;
  Logger& log_;
  Clock::time_point read_at_{};
  bool stale_ = true;
};

}  // namespace jarvis::kube
