// Opens the controller's connections to the agents, one per gRPC channel (AgentClient keeps the channels):
// - TCP to the agent's host:port, under the caller's deadline;
// - with mutual TLS, the handshake on the controller's one TLS context (tls/agent_tls_context.hpp: the files of
//   its TLS directory, looked at before a connection once the refresh interval has passed, and the context
//   rebuilt when they changed), then a local socket
//   pair: gRPC gets one end (grpc::CreateInsecureChannelFromFd) and a relay (tls/tls_client_stream.hpp) carries
//   the bytes between the other end and the TLS connection until either side closes;
// - with plaintext (--insecure), gRPC gets the TCP socket itself.
// Why not gRPC's own TLS: gRPC 1.51 (Debian 12) builds a TLS context for every channel, parsing the key and the
// certificates again each time. At 1,000 nodes that was a quarter of the controller's CPU and most of its memory
// (bench/RESULTS.md). It also cannot say which agent a failed handshake was with; here the refusal names it.
// A channel made on a descriptor never reconnects: once its connection ended, AgentClient opens a new one.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <grpcpp/channel.h>

#include "common/log.hpp"
#include "common/result.hpp"
#include "tls/agent_tls_context.hpp"
#include "tls/grpc_credentials.hpp"
#include "tls/tls_client_stream.hpp"

namespace jarvis::controller {

// How the controller notices an agent that went silent (its host gone, the process stopped, the network
// black-holed) while a call waits on it, rather than at the call's deadline (a Wait may take minutes).
// HTTP/2: gRPC pings the agent every `time`, with or without calls in flight, and drops the connection when
// a ping is not answered within `timeout` (its calls fail with UNAVAILABLE). TCP: keepalive probes start
// after `time` of silence, every `timeout` / probes, and the kernel drops the connection after `probes`
// unanswered ones (a host that is gone; a stopped process still answers these, its kernel does).
struct AgentKeepalive {
  static constexpr int probes = 3;
  std::chrono::milliseconds time{30'000};
  std::chrono::milliseconds timeout{10'000};
};

class AgentConnector {
 public:
  // A handshake with an agent failed: the reason (tls/handshake_refusal.hpp, a fixed set), OpenSSL's words, and
  // the agent's host:port. The controller's audit line and jarvis_tls_handshake_failures_total.
  using OnRefused = std::function<void(std::string_view reason, std::string_view detail, std::string_view agent)>;

  // The most a channel's responses may hold (the agent's output cap is set on the agent).
  static constexpr int max_response_bytes = 64 * 1024 * 1024;

  AgentConnector(boost::asio::any_io_executor executor, Logger& log, tls::TransportSecurity security,
                 OnRefused on_refused = {}, AgentKeepalive keepalive = {});
  ~AgentConnector();
  AgentConnector(const AgentConnector&) = delete;
  AgentConnector& operator=(const AgentConnector&) = delete;

  // Loads the TLS files (a no-op with plaintext); fails, saying why, until they are usable.
  Status prepare();
  bool prepared() const { return security_.insecure || context_.current() != nullptr; }

  // What becomes known of a connection after it was handed over (only on the controller's executor).
  struct ConnectionState {
    // The connection under the channel has ended (TLS: the relay ended; plaintext: never known here, AgentClient
    // learns it from a call that fails with UNAVAILABLE).
    bool ended = false;
    // The agent refused the controller's certificate after the handshake (TLS 1.3), as the calls' error says it:
    // gRPC itself only sees the connection close.
    std::string refusal;
  };
  struct Connection {
    std::shared_ptr<grpc::Channel> channel;
    std::shared_ptr<const ConnectionState> state;
  };
  // Fails with UNAVAILABLE (the address cannot be resolved or connected to, or the handshake failed: the message
  // says which, with OpenSSL's words) or DEADLINE_EXCEEDED (`deadline` passed first). Not cancellable: it ends by
  // its deadline.
  boost::asio::awaitable<Result<Connection>> connect(std::string address, std::chrono::milliseconds deadline);

  // Closes every connection still relayed (the controller is stopping): their channels fail from now on.
  void close_all();
  std::size_t relayed_connections() const { return links_->size(); }

 private:
  struct Link;
  struct Attempt;
  static boost::asio::awaitable<void> relay(std::shared_ptr<Link> link, Logger& log, OnRefused on_refused);
  // Looks at the TLS files when refresh_interval_seconds have passed since the last look.
  void refresh_context();
  // The reason and detail of a failed handshake with `agent`, reported to on_refused; returns the error text.
  static std::string refused(const OnRefused& on_refused, const tls::TlsClientStream::HandshakeFailure& failure,
                             const tls::TlsClientStream& stream, std::string_view agent);

  boost::asio::any_io_executor executor_;
  Logger& log_;
  tls::TransportSecurity security_;
  OnRefused on_refused_;
  AgentKeepalive keepalive_;
  tls::AgentTlsContext context_;
  std::chrono::steady_clock::time_point next_refresh_{};
  std::uint64_t next_link_ = 1;
  using Links = std::unordered_map<std::uint64_t, std::weak_ptr<Link>>;
  std::shared_ptr<Links> links_ = std::make_shared<Links>();
};

}  // namespace jarvis::controller
