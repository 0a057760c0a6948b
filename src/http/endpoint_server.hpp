// A small HTTP/1.1 server for the operational endpoints (/healthz, /readyz, /metrics), written with Beast.
// It runs on a thread and an io_context of its own, so a stuck or busy role loop shows as a failing
// /healthz instead of a probe that hangs, and a slow client never holds up the role. Every connection has
// deadlines (reading a request, writing the answer), a request is bounded (headers of at most 8 KiB, no
// body), and connections beyond `max_connections` are closed at once.
//
// Handlers run on the server's thread: they must be thread-safe (atomics, the metrics registry).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/ip/tcp.hpp>

#include "common/log.hpp"
#include "common/result.hpp"

namespace jarvis::http {

struct Reply {
  unsigned status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

using Handler = std::function<Reply()>;
using Routes = std::map<std::string, Handler, std::less<>>;  // exact path (the query is ignored) -> handler

struct ServerLimits {
  std::chrono::milliseconds read_timeout{10'000};  // for each request's head, keep-alive idle time included
  std::chrono::milliseconds write_timeout{10'000};
  std::size_t max_header_bytes = 8 * 1024;
  std::size_t max_connections = 32;
};

// A bind address as Go's net.Listen and controller-runtime take it: ":8080" (every IPv4 interface),
// "127.0.0.1:8080", "[::1]:8080", "localhost:8080"; port 0 picks a free port. "0" means disabled (nullopt).
Result<std::optional<boost::asio::ip::tcp::endpoint>> parse_bind_address(std::string_view text);

class EndpointServer {
 public:
  struct Listener {
    boost::asio::ip::tcp::endpoint endpoint;
    Routes routes;
  };

  // Binds every listener now (an Error names the address that could not be bound), then serves them on a
  // thread of its own until destroyed.
  static Result<std::unique_ptr<EndpointServer>> start(std::vector<Listener> listeners, ServerLimits limits,
                                                       Logger& log);
  ~EndpointServer();
  EndpointServer(const EndpointServer&) = delete;
  EndpointServer& operator=(const EndpointServer&) = delete;

  // The bound endpoint of each listener, in the order given.
  std::vector<boost::asio::ip::tcp::endpoint> endpoints() const;

  struct State;  // the io_context, acceptors and routes (endpoint_server.cpp)

 private:
  explicit EndpointServer(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace jarvis::http
