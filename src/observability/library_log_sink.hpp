// Routes the diagnostics of the libraries that would otherwise print plain text to stderr through the JSON
// logger: gRPC's own lines (gpr_log: its core, and the OpenSSL errors its TLS layer reports, e.g.
// `E1129 ... ssl_transport_security.cc:1501] Handshake failed ... peer did not return a certificate`) and
// protobuf's (e.g. invalid UTF-8 in a string field). gRPC 1.51 (Debian 12) logs through gpr_log only (the
// abseil logging of later releases does not exist there); its verbosity stays what GRPC_VERBOSITY says
// (errors by default), and each line is then filtered by --log-level.
//
// Each line becomes {"level":..., "msg": <the library's text>, "source":"grpc"|"protobuf",
// "location":"file.cc:line"}, rate-limited per location (a line repeated in a loop cannot flood the log:
// at most 20 per minute each, the next one written says how many were suppressed).
//
// A refused TLS connection gets one audit line (refused()): warn, msg `refusal_msg`, the reason, a detail, the
// peer, the source; reported to `on_refused` (metrics) and rate-limited per peer address and reason (10 per
// minute each; at most 1024 addresses remembered, beyond them one shared budget), so one client cannot flood
// the log and one noisy client cannot hide another. Both roles terminate their TLS themselves, the agent for
// the connections it accepts (agent/tls_front.hpp), the controller for those it opens to agents
// (controller/agent_connector.hpp), and report each refusal with the other side's address; gRPC itself only
// ever sees plaintext.
//
// gRPC's and protobuf's C-style hooks take no user data, so the sink installed is reachable through one
// process-wide pointer: the only global of the program, set by the constructor and cleared by the
// destructor (lines arriving meanwhile on gRPC's threads see either this sink or none, then are dropped).
#pragma once

#include <functional>
#include <mutex>
#include <string>
#include <string_view>

#include "common/log.hpp"
#include "common/log_rate_limiter.hpp"

namespace jarvis::observability {

// The address part of a peer "host:port" or "[v6]:port" (the rate limit's key: a client's port changes).
std::string_view peer_host(std::string_view peer);

class LibraryLogSink {
 public:
  using OnRefused = std::function<void(std::string_view reason)>;
  // Installs itself; call once, in main, before gRPC is used. `refusal_msg` is the audit line's msg
  // ("refused a TLS connection" on the agent).
  LibraryLogSink(Logger& log, std::string refusal_msg, OnRefused on_refused = {});
  ~LibraryLogSink();
  LibraryLogSink(const LibraryLogSink&) = delete;
  LibraryLogSink& operator=(const LibraryLogSink&) = delete;

  // The role sets what it counts refusals with once its metrics exist.
  void set_on_refused(OnRefused on_refused);

  // A refused TLS connection (the agent's TLS front, the controller's agent connector), with `peer`
  // (host:port; empty when unknown): one audit line, counted.
  void refused(std::string_view reason, std::string_view detail, std::string_view peer, std::string_view source,
               std::string_view location = {});

  // One line from a library (public for the tests). severity: debug, info or error as the library said.
  void write(std::string_view source, LogLevel severity, std::string_view file, int line, std::string_view text);

 private:
  Logger& log_;
  std::string refusal_msg_;
  std::mutex mu_;
  OnRefused on_refused_;
  LogRateLimiter per_location_;
  LogRateLimiter per_refusal_;
};

}  // namespace jarvis::observability
