// The agent's mutual TLS, terminated by the agent itself in front of its gRPC server. It owns the listening
// socket (--listen), so for every connection it knows the client's address; it runs the TLS handshake with
// OpenSSL under a deadline (agent_tls_context.hpp: the Jarvis CA, the controller's identity, ALPN h2), and:
// - on failure, reports one refusal (reason from tls/handshake_refusal.hpp, OpenSSL's detail, the client's
//   address) and closes the connection;
// - on success, hands one end of a local socket pair to the gRPC server (grpc::AddInsecureChannelFromFd: gRPC
//   1.51 takes only plaintext there) and relays the bytes between it and the TLS stream (tls_relay.hpp),
//   recording who the client is for the service (connection_peers.hpp).
// Why not gRPC's own TLS: gRPC 1.51 (Debian 12) cannot tell the address of a connection whose handshake
// failed, and the audit line of a refused connection must carry it.
//
// The context is rebuilt when the files of --tls-dir change: looked at on every accepted connection and every
// refresh interval; a set that cannot be used keeps the last good one. At most `max_handshakes` handshakes run
// at once; a connection beyond that is closed at once (reported as a refusal too).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <grpcpp/server.h>

#include "agent/connection_peers.hpp"
#include "common/log.hpp"
#include "common/log_rate_limiter.hpp"
#include "common/result.hpp"
#include "tls/agent_tls_context.hpp"

namespace jarvis::agent {

namespace asio = boost::asio;

struct TlsFrontOptions {
  std::string listen;                 // host:port; port 0 takes a free port
  std::filesystem::path tls_dir;
  std::chrono::seconds refresh_interval{60};
  std::chrono::milliseconds handshake_timeout{10'000};
  unsigned max_handshakes = 256;
};

class TlsFront {
 public:
  // reason (tls::refusal::...), detail (OpenSSL's words), peer (host:port)
  using OnRefused = std::function<void(std::string_view reason, std::string_view detail, std::string_view peer)>;

  // Loads the TLS files and listens; an Error names the address or the files.
  static Result<std::unique_ptr<TlsFront>> listen(asio::any_io_executor executor, TlsFrontOptions options,
                                                  ConnectionPeers& peers, OnRefused on_refused, Logger& log);
  ~TlsFront();

  unsigned short port() const { return port_; }

  // Accepts connections and hands the verified ones to `server` (started, with no port of its own) until
  // stop_accepting(). Keeps the TLS context current meanwhile.
  asio::awaitable<void> run(grpc::Server& server);

  // Closes the listening socket: run() returns; connections already handed over go on (gRPC drains them).
  void stop_accepting();
  // Closes every connection still open (after gRPC's shutdown).
  void close_all();

  // /readyz: listening, with a usable TLS context. Thread-safe.
  std::optional<std::string> not_ready() const;

 private:
  struct Connection;
  TlsFront(asio::any_io_executor executor, TlsFrontOptions options, ConnectionPeers& peers, OnRefused on_refused,
           Logger& log);
  asio::awaitable<void> keep_context_current();
  void refresh_context();
  asio::awaitable<void> serve(std::shared_ptr<Connection> connection, grpc::Server& server);
  asio::awaitable<bool> handshake(Connection& connection);
  void refuse(const Connection& connection, std::string_view reason, std::string_view detail);

  asio::any_io_executor executor_;
  TlsFrontOptions options_;
  ConnectionPeers& peers_;
  OnRefused on_refused_;
  Logger& log_;
  tls::AgentTlsContext context_;
  asio::ip::tcp::acceptor acceptor_;
  unsigned short port_ = 0;
  std::atomic<bool> accepting_{false};  // read by /readyz's thread
  unsigned handshaking_ = 0;
  std::uint64_t next_connection_ = 1;
  std::unordered_map<std::uint64_t, std::weak_ptr<Connection>> connections_;
  LogRateLimiter accept_errors_;  // out of file descriptors repeats on every accept
  asio::cancellation_signal stop_refreshing_;  // a member: the refresh outlives run()'s frame by a moment
};

}  // namespace jarvis::agent
