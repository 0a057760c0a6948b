#include "observability/library_log_sink.hpp"

#include <atomic>

#include <google/protobuf/stubs/logging.h>
#include <grpc/support/log.h>

namespace jarvis::observability {

namespace {

// The installed sink (see the header: the C hooks carry no user data).
std::atomic<LibraryLogSink*> installed{nullptr};

LogLevel from_gpr(gpr_log_severity severity) {
  switch (severity) {
    case GPR_LOG_SEVERITY_DEBUG: return LogLevel::debug;
    case GPR_LOG_SEVERITY_INFO: return LogLevel::info;
    case GPR_LOG_SEVERITY_ERROR: return LogLevel::error;
  }
  return LogLevel::error;
}

void from_grpc(gpr_log_func_args* args) {
  if (auto* sink = installed.load(std::memory_order_acquire))
    sink->write("grpc", from_gpr(args->severity), args->file ? args->file : "", args->line,
                args->message ? args->message : "");
}

void from_protobuf(google::protobuf::LogLevel level, const char* file, int line, const std::string& message) {
  LogLevel ours = LogLevel::error;
  if (level == google::protobuf::LOGLEVEL_INFO) ours = LogLevel::info;
  else if (level == google::protobuf::LOGLEVEL_WARNING) ours = LogLevel::warn;
  if (auto* sink = installed.load(std::memory_order_acquire)) sink->write("protobuf", ours, file ? file : "", line, message);
}

std::string_view base_name(std::string_view path) {
  const auto slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

}  // namespace

std::string_view peer_host(std::string_view peer) {
  if (peer.starts_with('[')) {
    const auto close = peer.find(']');
    return close == std::string_view::npos ? peer : peer.substr(1, close - 1);
  }
  const auto colon = peer.rfind(':');
  if (colon == std::string_view::npos || peer.find(':') != colon) return peer;  // no port, or a bare IPv6 address
  return peer.substr(0, colon);
}

LibraryLogSink::LibraryLogSink(Logger& log, std::string refusal_msg, OnRefused on_refused)
    : log_(log),
      refusal_msg_(std::move(refusal_msg)),
      on_refused_(std::move(on_refused)),
      per_location_(20, std::chrono::minutes(1)),
      per_refusal_(10, std::chrono::minutes(1)) {
  installed.store(this, std::memory_order_release);
  gpr_set_log_function(from_grpc);
  google::protobuf::SetLogHandler(from_protobuf);
}

LibraryLogSink::~LibraryLogSink() {
  installed.store(nullptr, std::memory_order_release);
  google::protobuf::SetLogHandler(nullptr);
}

void LibraryLogSink::set_on_refused(OnRefused on_refused) {
  std::lock_guard lock(mu_);
  on_refused_ = std::move(on_refused);
}

void LibraryLogSink::refused(std::string_view reason, std::string_view detail, std::string_view peer,
                             std::string_view source, std::string_view location) {
  {
    std::lock_guard lock(mu_);
    if (on_refused_) on_refused_(reason);
  }
  // Per client address (its port changes with every connection) and reason; per reason when unknown.
  const std::string key = peer.empty() ? std::string(reason) : std::string(peer_host(peer)) + " " + std::string(reason);
  const auto admitted = per_refusal_.admit(key);
  if (!admitted.write) return;
  log_.warn(refusal_msg_, {{"reason", reason},
                           {"detail", detail},
                           {"peer", peer.empty() ? std::string_view("unknown") : peer},
                           {"source", source},
                           {"location", location},
                           {"suppressed", admitted.suppressed}});
}

void LibraryLogSink::write(std::string_view source, LogLevel severity, std::string_view file, int line,
                           std::string_view text) {
  const std::string location = std::string(base_name(file)) + ":" + std::to_string(line);
  if (!log_.enabled(severity)) return;
  const auto admitted = per_location_.admit(location);
  if (!admitted.write) return;
  if (admitted.suppressed > 0) {
    log_.log(severity, text, {{"source", source}, {"location", location}, {"suppressed", admitted.suppressed}});
  } else {
    log_.log(severity, text, {{"source", source}, {"location", location}});
  }
}

}  // namespace jarvis::observability
