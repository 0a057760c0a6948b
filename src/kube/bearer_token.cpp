#include "kube/bearer_token.hpp"

#include <algorithm>
#include <fstream>
#include <sstream>

namespace jarvis::kube {

namespace {
std::string trim_whitespace(std::string text) {
  auto not_space = [](char c) { return c != ' ' && c != '\n' && c != '\r' && c != '\t'; };
  auto end = std::find_if(text.rbegin(), text.rend(), not_space).base();
  auto begin = std::find_if(text.begin(), end, not_space);
  return std::string(begin, end);
}
}  // namespace

BearerToken::BearerToken(std::string token, std::string token_file, Logger& log, std::shared_ptr<ExecTokenCache> exec)
    : token_(std::move(token)), token_file_(std::move(token_file)), log_(log), exec_(std::move(exec)) {}

boost::asio::awaitable<Result<std::string>> BearerToken::current(Clock::time_point now) {
  if (exec_) co_return co_await exec_->token(log_);
  co_return get(now);
}

const std::string& BearerToken::get(Clock::time_point now) {
  if (!token_file_.empty() && (stale_ || now - read_at_ >= kRereadInterval)) reread(now);
  return token_;
}

bool BearerToken::refresh_after_unauthorized() {
  if (exec_) {
    exec_->invalidate();
    return true;
  }
  if (token_file_.empty()) return false;
  stale_ = true;
  return true;
}

void BearerToken::reread(Clock::time_point now) {
  read_at_ = now;
  stale_ = false;
  std::ifstream in(token_file_, std::ios::binary);
  std::ostringstream text;
  if (in) text << in.rdbuf();
  std::string token = in ? trim_whitespace(text.str()) : std::string{};
  if (token.empty()) {
    log_.warn("cannot read the bearer token file; keeping the previous token", {{"file", token_file_}});
    return;
  }
  token_ = std::move(token);
}

}  // namespace jarvis::kube
