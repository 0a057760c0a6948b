#include "kube/connection.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

#include <array>

#include "common/coro.hpp"

namespace jarvis::kube {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

namespace {

// A non-200 answer to a stream is a Status object; more than this is not worth keeping.
constexpr std::size_t kMaxErrorBody = 1024 * 1024;

Error network_error(std::string_view step, const boost::system::error_code& ec) {
  std::string reason = ec == beast::error::timeout ? std::string("timed out") : ec.message();
  return Error{std::string(step) + ": " + reason, ec.value()};
}

}  // namespace

Connection::Connection(asio::any_io_executor ex, asio::ssl::context& tls) : stream_(std::move(ex), tls) {}

asio::awaitable<Status> Connection::connect(const std::string& host, const std::string& port, Duration timeout) {
  asio::ip::tcp::resolver resolver(stream_.get_executor());
  boost::system::error_code ec;
  asio::ip::address address = asio::ip::make_address(host, ec);
  bool is_ip = !ec;
  asio::ip::tcp::resolver::results_type endpoints;
  if (is_ip) {
    // No resolver thread for an address literal (the in-cluster and test-cluster case).
    endpoints = asio::ip::tcp::resolver::results_type::create(
        asio::ip::tcp::endpoint(address, static_cast<unsigned short>(std::stoi(port))), host, port);
  } else {
    auto [resolve_ec, results] = co_await resolver.async_resolve(host, port, use_tuple);
    if (resolve_ec) co_return network_error("resolve " + host, resolve_ec);
    endpoints = std::move(results);
  }
  auto& tcp = beast::get_lowest_layer(stream_);
  tcp.expires_after(timeout);
  auto [connect_ec, endpoint] = co_await tcp.async_connect(endpoints, use_tuple);
  if (connect_ec) co_return network_error("connect to " + host + ":" + port, connect_ec);
  tcp.socket().set_option(asio::ip::tcp::no_delay(true), ec);

  if (!is_ip && SSL_set_tlsext_host_name(stream_.native_handle(), host.c_str()) != 1) {
    co_return Error{"TLS: cannot set SNI host name " + host};
  }
  stream_.set_verify_callback(asio::ssl::host_name_verification(host));
  auto [handshake_ec] = co_await stream_.async_handshake(asio::ssl::stream_base::client, use_tuple);
  if (handshake_ec) co_return network_error("TLS handshake with " + host + ":" + port, handshake_ec);
  tcp.expires_never();
  co_return Ok{};
}

asio::awaitable<Result<Response>> Connection::round_trip(const HttpRequest& request, Duration timeout,
                                                         std::uint64_t body_limit) {
  reusable_ = false;
  bytes_received_ = 0;
  auto& tcp = beast::get_lowest_layer(stream_);
  tcp.expires_after(timeout);
  auto [write_ec, written] = co_await http::async_write(stream_, request, use_tuple);
  if (write_ec) co_return network_error("send request", write_ec);

  http::response_parser<http::string_body> parser;
  parser.body_limit(body_limit);
  auto [read_ec, read] = co_await http::async_read(stream_, buffer_, parser, use_tuple);
  bytes_received_ = read;
  if (read_ec) co_return network_error("read response", read_ec);
  tcp.expires_never();
  auto& message = parser.get();
  reusable_ = message.keep_alive();
  co_return Response{message.result_int(), std::move(message.body()), std::string(message[http::field::retry_after])};
}

asio::awaitable<Result<Response>> Connection::stream(const HttpRequest& request, Duration idle_timeout,
                                                     const OnData& on_data) {
  reusable_ = false;
  bytes_received_ = 0;
  auto& tcp = beast::get_lowest_layer(stream_);
  tcp.expires_after(idle_timeout);
  auto [write_ec, written] = co_await http::async_write(stream_, request, use_tuple);
  if (write_ec) co_return network_error("send request", write_ec);

  http::response_parser<http::buffer_body> parser;
  parser.body_limit(boost::none);  // a watch is as long as the server keeps it open
  auto [header_ec, header_bytes] = co_await http::async_read_header(stream_, buffer_, parser, use_tuple);
  bytes_received_ = header_bytes;
  if (header_ec) co_return network_error("read response header", header_ec);

  Response response{parser.get().result_int(), {}, std::string(parser.get()[http::field::retry_after])};
  bool deliver = response.status == 200;
  std::array<char, 64 * 1024> piece;
  while (!parser.is_done()) {
    parser.get().body().data = piece.data();
    parser.get().body().size = piece.size();
    tcp.expires_after(idle_timeout);  // re-armed per read: a healthy stream may stay quiet for a while, not forever
    auto [ec, n] = co_await http::async_read_some(stream_, buffer_, parser, use_tuple);
    bytes_received_ += n;
    if (ec && ec != http::error::need_buffer) co_return network_error("read response body", ec);
    std::string_view data(piece.data(), piece.size() - parser.get().body().size);
    if (data.empty()) continue;
    if (!deliver) {
      if (response.body.size() < kMaxErrorBody) response.body.append(data.substr(0, kMaxErrorBody - response.body.size()));
    } else if (!on_data(data)) {
      co_return response;  // stopped mid-body: the connection cannot be reused
    }
  }
  tcp.expires_never();
  reusable_ = parser.get().keep_alive();
  co_return response;
}

}  // namespace jarvis::kube

