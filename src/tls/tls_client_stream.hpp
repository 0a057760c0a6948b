// One client TLS connection on a non-blocking TCP socket, driven with OpenSSL directly on the socket: the
// handshake under a shared context's rules (agent_tls_context.hpp), then relay() carries the bytes between it and
// a local socket (the end of a socket pair that gRPC does not own) until both directions have ended.
//
// Why not asio::ssl::stream: it keeps four buffers of 17 KiB per connection (two of its own, a BIO pair), and a
// controller holds one agent connection per execution in flight, a thousand on a big fleet. Here OpenSSL reads and
// writes the socket itself, its buffers are released while idle (SSL_MODE_RELEASE_BUFFERS), and the relay takes a
// buffer only while bytes move: an idle connection holds a few KiB.
//
// Single-threaded: every member runs on the socket's executor. The relay's two directions share the SSL object;
// each OpenSSL call runs to its end before the other direction resumes (a write that must be repeated is repeated
// with the same bytes).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/ssl/context.hpp>
#include <openssl/ssl.h>

#include "common/result.hpp"
#include "tls/handshake_refusal.hpp"
#include "tls/two_way_relay.hpp"

namespace jarvis::tls {

class TlsClientStream {
 public:
  using Socket = boost::asio::ip::tcp::socket;
  using LocalSocket = boost::asio::local::stream_protocol::socket;

  // A connected socket, the context (kept alive by the stream) and the name sent as SNI. Fails only when OpenSSL
  // cannot make the connection's object.
  static Result<std::unique_ptr<TlsClientStream>> make(Socket socket,
                                                       std::shared_ptr<boost::asio::ssl::context> context,
                                                       std::string_view server_name);
  ~TlsClientStream();
  TlsClientStream(const TlsClientStream&) = delete;
  TlsClientStream& operator=(const TlsClientStream&) = delete;

  struct HandshakeFailure {
    tls::HandshakeFailure tls;  // OpenSSL's results (refusal_reason / refusal_detail read them)
    std::string io_error;       // a socket error instead ("Operation canceled" once close() cut it short)
  };
  // Runs the handshake; nullopt once the server is verified. No deadline of its own: close() ends it.
  boost::asio::awaitable<std::optional<HandshakeFailure>> handshake();

  // The subject's CN and DNS names of the certificate the server presented, as verification saw it ("" before
  // the handshake got one), for messages.
  const std::string& server_certificate() const { return server_certificate_; }


  // Relays until both directions have ended, as agent/tls_relay.hpp does for the server side: an end of stream on
  // one side becomes a half-close of the other (close_notify and a FIN towards the server, shutdown(SHUT_WR)
  // towards `local`); the other direction then gets `linger` to end; a failure or the linger running out closes
  // both. Returns with both sockets closed.
  // With TLS 1.3 the client's handshake ends before the server has checked the client's certificate: a server
  // that refuses it says so with an alert, the first thing the relay reads. `refused` hears of that failure at
  // once, before `local` is closed (so before a call on it fails).
  using OnRefused = std::function<void(const HandshakeFailure&)>;
  boost::asio::awaitable<void> relay(LocalSocket& local, std::chrono::steady_clock::duration linger,
                                     OnRefused refused);

  // Closes the TCP socket: what is waiting on it ends at once. Safe to call again.
  void close();

 private:
  TlsClientStream(Socket socket, std::shared_ptr<boost::asio::ssl::context> context, SSL* ssl);
  // Waits until the socket is ready for what OpenSSL asked (SSL_ERROR_WANT_READ/WRITE); false when it failed or
  // the stream was closed.
  boost::asio::awaitable<bool> wait_for(int ssl_error);
  boost::asio::awaitable<RelayEnd> server_to_local(LocalSocket& local, const OnRefused& refused);
  boost::asio::awaitable<RelayEnd> local_to_server(LocalSocket& local);
  void send_close_notify();
  static int on_verify(int preverified, X509_STORE_CTX* context);

  Socket socket_;
  std::shared_ptr<boost::asio::ssl::context> context_;
  SSL* ssl_;
  bool closed_ = false;
  bool received_data_ = false;
  std::string server_certificate_;
};

}  // namespace jarvis::tls
