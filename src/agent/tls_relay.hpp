// Carries the bytes of one connection both ways between the client's TLS stream and the local socket the gRPC
// server reads, until both directions have ended. An end of stream on one side is passed on as a half-close of
// the other (TCP FIN towards the client, shutdown(SHUT_WR) towards gRPC); the other direction then gets
// `linger` to end too. A failure on either side, or the linger running out, closes both.
#pragma once

#include <chrono>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/ssl/stream.hpp>

namespace jarvis::agent {

namespace asio = boost::asio;

using TlsStream = asio::ssl::stream<asio::ip::tcp::socket>;
using LocalSocket = asio::local::stream_protocol::socket;

// Returns once both directions have ended and both sockets are closed.
asio::awaitable<void> relay(TlsStream& tls, LocalSocket& local, std::chrono::steady_clock::duration linger);

}  // namespace jarvis::agent
