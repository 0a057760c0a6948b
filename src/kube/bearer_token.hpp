// The bearer token sent with every request: a static kubeconfig token, or a token file that is re-read at
// least every minute and right after a 401, because projected service-account tokens rotate (client-go does
// the same). A failed re-read keeps the last good token and says so in the log. With a credential exec plugin
// (exec_credential.hpp), the plugin's token, cached until it expires, comes first.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include <boost/asio/awaitable.hpp>

#include "common/log.hpp"
#include "common/result.hpp"
#include "kube/exec_credential.hpp"

namespace jarvis::kube {

class BearerToken {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::chrono::seconds kRereadInterval{60};

  BearerToken(std::string token, std::string token_file, Logger& log,
              std::shared_ptr<ExecTokenCache> exec = nullptr);

  // The static or file token to send now; "" for none.
  const std::string& get(Clock::time_point now);
  // The token to send now: the exec plugin's when there is one (waiting for its run when the cached token
  // expired; an Error when the plugin fails), else get().
  boost::asio::awaitable<Result<std::string>> current(Clock::time_point now);
  // The server rejected the token: the next get() re-reads the file, the next current() runs the exec plugin
  // again. False when there is nothing to re-read.
  bool refresh_after_unauthorized();

 private:
  void reread(Clock::time_point now);

  std::string token_;
  std::string token_file_;
  Logger& log_;
  Clock::time_point read_at_{};
  bool stale_ = true;
  std::shared_ptr<ExecTokenCache> exec_;  // shared with the other clients of the same configuration
};

}  // namespace jarvis::kube
