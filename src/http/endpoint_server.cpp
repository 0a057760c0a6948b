#include "http/endpoint_server.hpp"

#include <exception>
#include <sstream>
#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include "common/coro.hpp"

namespace jarvis::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

Result<std::optional<tcp::endpoint>> parse_bind_address(std::string_view text) {
  if (text == "0") return std::optional<tcp::endpoint>{};
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos)
    return Error{"\"" + std::string(text) + "\" is not an address like :8080 or 127.0.0.1:8080 (0 disables)"};
  std::string host(text.substr(0, colon));
  const std::string_view port_text = text.substr(colon + 1);
  unsigned port = 0;
  if (port_text.empty() || port_text.size() > 5 ||
      port_text.find_first_not_of("0123456789") != std::string_view::npos || (port = std::stoul(std::string(port_text))) > 65535)
    return Error{"\"" + std::string(text) + "\": the port must be a number from 0 to 65535"};
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host.empty()) host = "0.0.0.0";
  if (host == "localhost") host = "127.0.0.1";
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(host, ec);
  if (ec)
    return Error{"\"" + std::string(text) + "\": \"" + host + "\" is not an IP address (or localhost)"};
  return std::optional<tcp::endpoint>{tcp::endpoint(address, static_cast<std::uint16_t>(port))};
}

struct EndpointServer::State {
  State(ServerLimits l, Logger& lg) : limits(l), log(lg) {}
  ServerLimits limits;
  Logger& log;
  asio::io_context io{1};
  std::vector<Routes> routes;  // per listener; sessions refer to them
  std::vector<std::unique_ptr<tcp::acceptor>> acceptors;
  std::size_t connections = 0;  // touched on the server thread only
  std::thread thread;
};

namespace {

Reply answer(const Routes& routes, const bhttp::request<bhttp::empty_body>& request, Logger& log) {
  if (request.method() != bhttp::verb::get && request.method() != bhttp::verb::head)
    return Reply{405, "text/plain; charset=utf-8", "only GET and HEAD\n"};
  std::string_view target = request.target();
  target = target.substr(0, target.find('?'));
  const auto route = routes.find(target);
  if (route == routes.end()) return Reply{404, "text/plain; charset=utf-8", "not found\n"};
  try {
    return route->second();
  } catch (const std::exception& e) {
    log.error("endpoint handler failed", {{"path", target}, {"error", e.what()}});
    return Reply{500, "text/plain; charset=utf-8", "internal error\n"};
  }
}

asio::awaitable<void> session(tcp::socket socket, const Routes& routes, ServerLimits limits, Logger& log) {
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer(limits.max_header_bytes);  // its max size: nothing beyond a request's head is read
  for (;;) {
    bhttp::request_parser<bhttp::empty_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(limits.max_header_bytes));
    parser.body_limit(0);
    stream.expires_after(limits.read_timeout);
    const auto [read_error, read_bytes] = co_await bhttp::async_read(stream, buffer, parser, use_tuple);
    if (read_error) break;  // closed, timed out, too large or malformed: nothing more to say
    const auto request = parser.release();
    const Reply reply = answer(routes, request, log);
    bhttp::response<bhttp::string_body> response{static_cast<bhttp::status>(reply.status), request.version()};
    response.set(bhttp::field::content_type, reply.content_type);
    response.set(bhttp::field::cache_control, "no-store");
    response.keep_alive(request.keep_alive());
    response.body() = request.method() == bhttp::verb::head ? std::string() : reply.body;
    response.prepare_payload();
    if (request.method() == bhttp::verb::head) response.content_length(reply.body.size());
    stream.expires_after(limits.write_timeout);
    const auto [write_error, written] = co_await bhttp::async_write(stream, response, use_tuple);
    if (write_error || !response.keep_alive()) break;
  }
  boost::system::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
}

asio::awaitable<void> accept_loop(EndpointServer::State& s, tcp::acceptor& acceptor, const Routes& routes) {
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(use_tuple);
    if (ec == asio::error::operation_aborted) co_return;
    if (ec) {
      // Out of descriptors and the like: wait a little instead of spinning.
      const bool slept = co_await sleep_for(std::chrono::milliseconds(100));
      if (!slept) co_return;
      continue;
    }
    if (s.connections >= s.limits.max_connections) {
      s.log.debug("endpoint connection refused: too many open", {{"limit", s.limits.max_connections}});
      continue;  // the socket closes here
    }
    ++s.connections;
    asio::co_spawn(s.io, session(std::move(socket), routes, s.limits, s.log),
                   [&s](std::exception_ptr failure) {
                     --s.connections;
                     if (failure && !stopped_by_cancellation(failure))
                       s.log.error("endpoint connection failed", {{"error", describe(failure)}});
                   });
  }
}

}  // namespace

EndpointServer::EndpointServer(std::unique_ptr<State> state) : state_(std::move(state)) {}

Result<std::unique_ptr<EndpointServer>> EndpointServer::start(std::vector<Listener> listeners, ServerLimits limits,
                                                              Logger& log) {
  auto state = std::make_unique<State>(limits, log);
  state->routes.reserve(listeners.size());
  for (auto& l : listeners) {
    auto acceptor = std::make_unique<tcp::acceptor>(state->io);
    boost::system::error_code ec;
    acceptor->open(l.endpoint.protocol(), ec);
    if (!ec) acceptor->set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor->bind(l.endpoint, ec);
    if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      std::ostringstream where;
      where << l.endpoint;
      return Error{"cannot listen on " + where.str() + ": " + ec.message(), ec.value()};
    }
    state->acceptors.push_back(std::move(acceptor));
    state->routes.push_back(std::move(l.routes));
  }
  for (std::size_t i = 0; i < state->acceptors.size(); ++i) {
    asio::co_spawn(state->io, accept_loop(*state, *state->acceptors[i], state->routes[i]),
                   [&log](std::exception_ptr failure) {
                     if (failure && !stopped_by_cancellation(failure))
                       log.error("endpoint server stopped accepting", {{"error", describe(failure)}});
                   });
  }
  State* s = state.get();
  state->thread = std::thread([s] { s->io.run(); });
  return std::unique_ptr<EndpointServer>(new EndpointServer(std::move(state)));
}

EndpointServer::~EndpointServer() {
  state_->io.stop();
  if (state_->thread.joinable()) state_->thread.join();
}

std::vector<tcp::endpoint> EndpointServer::endpoints() const {
  std::vector<tcp::endpoint> out;
  for (const auto& a : state_->acceptors) out.push_back(a->local_endpoint());
  return out;
}

}  // namespace jarvis::http
