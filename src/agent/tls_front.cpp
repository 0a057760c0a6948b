#include "agent/tls_front.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <charconv>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <grpcpp/server_posix.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "agent/tls_relay.hpp"
#include "common/coro.hpp"
#include "tls/handshake_refusal.hpp"
#include "tls/identities.hpp"

namespace jarvis::agent {

namespace ssl = asio::ssl;
using asio::ip::tcp;

namespace {

// How long the second direction of a connection may stay open once the first has ended.
constexpr std::chrono::seconds relay_linger{10};
// A pause after a failed accept (out of file descriptors...), so the loop does not spin.
constexpr std::chrono::milliseconds accept_retry{100};

struct ListenAddress {
  std::string host;
  std::string port;
};

Result<ListenAddress> split_listen(const std::string& listen) {
  const auto colon = listen.rfind(':');
  if (colon == std::string::npos || colon + 1 == listen.size())
    return Error{"--listen " + listen + ": expected host:port (e.g. 0.0.0.0:50051)"};
  std::string host = listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  return ListenAddress{host, listen.substr(colon + 1)};
}

bool wildcard(const std::string& host) { return host.empty() || host == "0.0.0.0" || host == "::"; }

// host:port of a client, IPv4 clients of a dual-stack socket written as IPv4.
std::string describe(const tcp::endpoint& endpoint) {
  asio::ip::address address = endpoint.address();
  if (address.is_v6() && address.to_v6().is_v4_mapped())
    address = asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6());
  const std::string port = std::to_string(endpoint.port());
  return address.is_v6() ? "[" + address.to_string() + "]:" + port : address.to_string() + ":" + port;
}

// The first bytes of a connection that is not TLS, printable (for the audit line's detail).
std::string printable(std::span<const unsigned char> bytes) {
  std::string text;
  for (const unsigned char c : bytes) text += std::isprint(c) ? static_cast<char>(c) : '.';
  return text;
}

bool end_of_stream(const boost::system::error_code& ec) {
  return ec == asio::error::eof || ec == ssl::error::stream_truncated;
}

}  // namespace

struct TlsFront::Connection {
  Connection(std::uint64_t id, tcp::socket socket, std::string peer, std::shared_ptr<ssl::context> context)
      : id(id),
        peer(std::move(peer)),
        context(std::move(context)),
        tls(std::move(socket), *this->context),
        local(tls.get_executor()),
        deadline(tls.get_executor()) {}

  void close() {
    boost::system::error_code ignored;
    tls.next_layer().close(ignored);
    local.close(ignored);
  }

  std::uint64_t id;
  std::string peer;
  std::shared_ptr<ssl::context> context;  // the one this connection started with, even if files change
  TlsStream tls;
  LocalSocket local;
  asio::steady_timer deadline;
  bool timed_out = false;
  std::string client_certificate;  // what the client presented, as the verifier saw it
};

TlsFront::TlsFront(asio::any_io_executor executor, TlsFrontOptions options, ConnectionPeers& peers,
                   OnRefused on_refused, Logger& log)
    : executor_(executor),
      options_(std::move(options)),
      peers_(peers),
      on_refused_(std::move(on_refused)),
      log_(log),
      context_(options_.tls_dir),
      acceptor_(executor),
      accept_errors_(10, std::chrono::minutes(1)) {}

TlsFront::~TlsFront() = default;

Result<std::unique_ptr<TlsFront>> TlsFront::listen(asio::any_io_executor executor, TlsFrontOptions options,
                                                   ConnectionPeers& peers, OnRefused on_refused, Logger& log) {
  auto address = split_listen(options.listen);
  if (!address) return address.error();
  unsigned short port = 0;
  if (std::from_chars(address->port.data(), address->port.data() + address->port.size(), port).ec != std::errc{})
    return Error{"--listen " + options.listen + ": the port is not a number from 0 to 65535"};
  std::unique_ptr<TlsFront> front(new TlsFront(executor, std::move(options), peers, std::move(on_refused), log));
  front->refresh_context();
  if (auto problem = front->context_.not_ready(tls::Clock::now())) return Error{*problem};

  std::vector<tcp::endpoint> candidates;
  if (wildcard(address->host)) {
    // Like gRPC: a wildcard address takes IPv6 and IPv4 where the host has IPv6, IPv4 only otherwise.
    candidates = {tcp::endpoint(tcp::v6(), port), tcp::endpoint(tcp::v4(), port)};
  } else {
    boost::system::error_code ec;
    const auto literal = asio::ip::make_address(address->host, ec);
    if (!ec) {
      candidates.emplace_back(literal, port);
    } else {
      tcp::resolver resolver(executor);
      const auto results = resolver.resolve(address->host, address->port, ec);
      if (ec) return Error{"--listen " + front->options_.listen + ": cannot resolve " + address->host + ": " + ec.message()};
      for (const auto& entry : results) candidates.push_back(entry.endpoint());
    }
  }
  std::string failures;
  for (const auto& endpoint : candidates) {
    boost::system::error_code ec;
    auto& acceptor = front->acceptor_;
    acceptor.close(ec);
    acceptor.open(endpoint.protocol(), ec);
    if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec && endpoint.address().is_v6() && wildcard(address->host)) acceptor.set_option(asio::ip::v6_only(false), ec);
    if (!ec) acceptor.bind(endpoint, ec);
    if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (!ec) {
      front->port_ = acceptor.local_endpoint(ec).port();
      if (!ec) {
        front->accepting_ = true;
        return front;
      }
    }
    failures += (failures.empty() ? "" : "; ") + describe(endpoint) + ": " + ec.message();
  }
  return Error{"cannot listen on " + front->options_.listen + ": " + failures};
}

void TlsFront::refresh_context() {
  const auto refreshed = context_.refresh();
  if (refreshed.reloaded) log_.info("TLS files loaded for new connections", {{"tls_dir", options_.tls_dir.string()}});
  if (refreshed.failed)
    log_.warn("TLS files cannot be used; the last usable ones stay in use",
              {{"tls_dir", options_.tls_dir.string()}, {"error", *refreshed.failed}});
}

asio::awaitable<void> TlsFront::keep_context_current() {
  for (;;) {
    const bool slept = co_await sleep_for(options_.refresh_interval);
    if (!slept) co_return;
    refresh_context();
  }
}

asio::awaitable<void> TlsFront::run(grpc::Server& server) {
  asio::co_spawn(executor_, keep_context_current(),
                 asio::bind_cancellation_slot(stop_refreshing_.slot(), report_failure(log_, "TLS files refresh")));
  while (accepting_) {
    auto [ec, socket] = co_await acceptor_.async_accept(use_tuple);
    if (!accepting_) break;
    if (ec) {
      if (const auto admitted = accept_errors_.admit(ec.message()); admitted.write)
        log_.warn("could not accept a connection", {{"error", ec.message()}, {"suppressed", admitted.suppressed}});
      const bool slept = co_await sleep_for(accept_retry);
      if (!slept) break;
      continue;
    }
    boost::system::error_code ignored;
    const auto remote = socket.remote_endpoint(ignored);
    socket.set_option(tcp::no_delay(true), ignored);
    refresh_context();
    auto connection = std::make_shared<Connection>(next_connection_++, std::move(socket), describe(remote),
                                                   context_.current());
    if (handshaking_ >= options_.max_handshakes) {
      refuse(*connection, tls::refusal::too_many,
             std::to_string(handshaking_) + " handshakes are in progress, the most this agent runs at once");
      connection->close();
      continue;
    }
    ++handshaking_;
    connections_.emplace(connection->id, connection);
    asio::co_spawn(executor_, serve(connection, server), [this, connection](std::exception_ptr failure) {
      connections_.erase(connection->id);
      connection->close();
      if (failure && !stopped_by_cancellation(failure))
        log_.error("a TLS connection failed inside the agent",
                   {{"peer", connection->peer}, {"error", jarvis::describe(failure)}});
    });
  }
  stop_refreshing_.emit(asio::cancellation_type::terminal);
}

void TlsFront::stop_accepting() {
  accepting_ = false;
  boost::system::error_code ignored;
  acceptor_.close(ignored);
}

void TlsFront::close_all() {
  for (auto& [id, weak] : connections_) {
    if (auto connection = weak.lock()) connection->close();
  }
}

std::optional<std::string> TlsFront::not_ready() const {
  if (!accepting_) return "not listening for gRPC connections (stopping)";
  return context_.not_ready(tls::Clock::now());
}

void TlsFront::refuse(const Connection& connection, std::string_view reason, std::string_view detail) {
  if (on_refused_) on_refused_(reason, detail, connection.peer);
}

asio::awaitable<void> TlsFront::serve(std::shared_ptr<Connection> connection, grpc::Server& server) {
  struct Handshaking {  // counted until the handshake ends, whichever way
    unsigned& count;
    bool done = false;
    void end() {
      if (!done) --count;
      done = true;
    }
    ~Handshaking() { end(); }
  } handshaking{handshaking_};

  connection->deadline.expires_after(options_.handshake_timeout);
  connection->deadline.async_wait([connection](const boost::system::error_code& ec) {
    if (ec) return;  // the handshake ended first
    connection->timed_out = true;
    boost::system::error_code ignored;
    connection->tls.next_layer().close(ignored);
  });
  const bool verified = co_await handshake(*connection);
  connection->deadline.cancel();
  handshaking.end();
  if (!verified) co_return;
  if (!accepting_) co_return;  // stopping: the gRPC server is shutting down and takes no new connection

  X509* certificate = SSL_get0_peer_certificate(connection->tls.native_handle());
  const std::string client = certificate ? tls::certificate_common_name(certificate) : std::string();
  int pair[2] = {-1, -1};
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, pair) != 0) {
    log_.error("cannot make a socket pair for a TLS connection; closing it",
               {{"peer", connection->peer}, {"error", std::strerror(errno)}});
    co_return;
  }
  const int grpc_end = pair[0];
  boost::system::error_code ec;
  connection->local.assign(asio::local::stream_protocol(), pair[1], ec);
  if (ec) {
    ::close(pair[0]);
    ::close(pair[1]);
    log_.error("cannot relay a TLS connection; closing it", {{"peer", connection->peer}, {"error", ec.message()}});
    co_return;
  }
  log_.debug("accepted a TLS connection", {{"peer", connection->peer}, {"client", client}});
  peers_.add(grpc_end, connection->id, ConnectionPeers::Peer{connection->peer, client});
  grpc::AddInsecureChannelFromFd(&server, grpc_end);  // gRPC owns grpc_end from here
  co_await relay(connection->tls, connection->local, relay_linger);
  peers_.remove(grpc_end, connection->id);
  log_.debug("TLS connection closed", {{"peer", connection->peer}});
}

asio::awaitable<bool> TlsFront::handshake(Connection& connection) {
  const auto timeout_detail = [&](std::string_view what) {
    return std::string(what) + " within " + std::to_string(options_.handshake_timeout.count()) + " ms";
  };
  // Plaintext is told by the first bytes, before OpenSSL reads anything.
  std::array<unsigned char, 16> first{};
  auto [peek_ec, peeked] =
      co_await connection.tls.next_layer().async_receive(asio::buffer(first), tcp::socket::message_peek, use_tuple);
  if (connection.timed_out) {
    refuse(connection, tls::refusal::timed_out, timeout_detail("the client sent nothing"));
    co_return false;
  }
  if (peek_ec || peeked == 0) {
    if (!peek_ec || end_of_stream(peek_ec)) {
      refuse(connection, tls::refusal::closed_early, "the client closed the connection without sending anything");
    } else {
      refuse(connection, tls::refusal::other, "reading the first bytes: " + peek_ec.message());
    }
    co_return false;
  }
  const std::span<const unsigned char> start(first.data(), peeked);
  if (!tls::starts_like_tls(start)) {
    refuse(connection, tls::refusal::plaintext, "the first bytes are not a TLS record: \"" + printable(start) + "\"");
    co_return false;
  }

  connection.tls.set_verify_callback([&connection](bool preverified, ssl::verify_context& context) {
    if (connection.client_certificate.empty()) {
      if (X509* leaf = X509_STORE_CTX_get0_cert(context.native_handle()))
        connection.client_certificate = tls::describe_certificate(leaf);
    }
    return preverified;
  });
  auto [ec] = co_await connection.tls.async_handshake(ssl::stream_base::server, use_tuple);
  if (!ec) co_return true;
  if (connection.timed_out) {
    refuse(connection, tls::refusal::timed_out, timeout_detail("the handshake did not complete"));
    co_return false;
  }
  tls::HandshakeFailure failure{
      .ssl_error = ec.category() == asio::error::get_ssl_category()
                       ? static_cast<unsigned long>(static_cast<unsigned int>(ec.value()))
                       : 0UL,
      .verify_result = SSL_get_verify_result(connection.tls.native_handle()),
      .end_of_stream = end_of_stream(ec),
  };
  std::string detail = failure.ssl_error == 0 && !failure.end_of_stream ? ec.message() : tls::refusal_detail(failure);
  const std::string_view reason = tls::refusal_reason(failure);
  if (reason == tls::refusal::wrong_identity)
    detail += "; the certificate must name " + std::string(tls::controller_identity) + " as a DNS name";
  if (!connection.client_certificate.empty()) detail += " (client certificate: " + connection.client_certificate + ")";
  refuse(connection, reason, detail);
  co_return false;
}

}  // namespace jarvis::agent
