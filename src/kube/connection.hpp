// One TLS connection to the API server and the HTTP/1.1 exchanges on it. Every operation has a deadline set
// on the lowest layer; expected failures (refused, reset, timed out, TLS errors) come back as values.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/message.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "common/result.hpp"
#include "kube/response.hpp"

namespace jarvis::kube {

using HttpRequest = boost::beast::http::request<boost::beast::http::string_body>;

class Connection {
 public:
  using Duration = std::chrono::steady_clock::duration;
  // Called with each piece of a streamed body as it arrives; returns false to stop reading.
  using OnData = std::function<bool(std::string_view data)>;

  Connection(boost::asio::any_io_executor ex, boost::asio::ssl::context& tls);

  // TCP connect and TLS handshake (SNI unless `host` is an IP address, certificate checked against `host`).
  boost::asio::awaitable<Status> connect(const std::string& host, const std::string& port, Duration timeout);

  // Sends `request` and reads the whole response, both within `timeout`.
  boost::asio::awaitable<Result<Response>> round_trip(const HttpRequest& request, Duration timeout,
                                                      std::uint64_t body_limit);

  // Sends `request`; a 200 response's body goes to `on_data` as it arrives (Response::body stays empty), any
  // other status's body is collected. Each wait for data is bounded by `idle_timeout`, so a long stream
  // stays up as long as the server keeps talking.
  boost::asio::awaitable<Result<Response>> stream(const HttpRequest& request, Duration idle_timeout,
                                                  const OnData& on_data);

  // The last exchange completed and the server allows another on this connection.
  bool reusable() const { return reusable_; }
  // Bytes of response the last exchange received; 0 means the server never answered.
  std::uint64_t bytes_received() const { return bytes_received_; }

 private:
  boost::asio::ssl::stream<boost::beast::tcp_stream> stream_;
  boost::beast::flat_buffer buffer_;
  bool reusable_ = false;
  std::uint64_t bytes_received_ = 0;
};

}  // namespace jarvis::kube
