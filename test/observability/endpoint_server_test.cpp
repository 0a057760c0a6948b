// The HTTP endpoint server with real sockets: routes, methods, bounded requests, deadlines, and that a
// slow or silent client does not hold up anyone else.
#include <catch2/catch.hpp>

#include <string>
#include <thread>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include "common/log.hpp"
#include "http/endpoint_server.hpp"
#include "metrics/registry.hpp"
#include "observability/endpoints.hpp"
#include "observability/heartbeat.hpp"

using namespace jarvis;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

// Sends `request` raw and returns everything the server wrote until it closed the connection.
std::string send_raw(const tcp::endpoint& server, const std::string& request) {
  asio::io_context io;
  tcp::socket socket(io);
  socket.connect(server);
  asio::write(socket, asio::buffer(request));
  std::string answer;
  boost::system::error_code ec;
  asio::read(socket, asio::dynamic_buffer(answer), ec);
  return answer;
}

std::string get(const tcp::endpoint& server, const std::string& path) {
  return send_raw(server, "GET " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
}

std::unique_ptr<http::EndpointServer> serve(http::Routes routes, Logger& log, http::ServerLimits limits = {}) {
  auto server = http::EndpointServer::start({{tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0), std::move(routes)}},
                                            limits, log);
  REQUIRE(server);
  return std::move(*server);
}

}  // namespace

TEST_CASE("bind addresses are read as Go and controller-runtime write them", "[http]") {
  auto parsed = [](std::string_view text) { return http::parse_bind_address(text); };
  CHECK(parsed(":8080")->value() == tcp::endpoint(asio::ip::make_address("0.0.0.0"), 8080));
  CHECK(parsed("127.0.0.1:9")->value() == tcp::endpoint(asio::ip::make_address("127.0.0.1"), 9));
  CHECK(parsed("[::1]:8081")->value() == tcp::endpoint(asio::ip::make_address("::1"), 8081));
  CHECK(parsed("localhost:0")->value() == tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  CHECK_FALSE(parsed("0")->has_value());
  CHECK_FALSE(parsed("8080"));
  CHECK_FALSE(parsed(":99999"));
  CHECK_FALSE(parsed("example.com:80"));
}

TEST_CASE("routes answer GET and HEAD; other paths and methods are refused", "[http]") {
  Logger log(LogLevel::error);
  auto server = serve({{"/healthz", [] { return http::Reply{200, "text/plain", "ok\n"}; }}}, log);
  const auto at = server->endpoints().front();
  const std::string ok = get(at, "/healthz?verbose=1");
  CHECK(ok.starts_with("HTTP/1.1 200 OK\r\n"));
  CHECK(ok.ends_with("\r\n\r\nok\n"));
  const std::string head = send_raw(at, "HEAD /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  CHECK(head.starts_with("HTTP/1.1 200"));
  CHECK(head.find("Content-Length: 3") != std::string::npos);
  CHECK(head.ends_with("\r\n\r\n"));
  CHECK(get(at, "/nope").starts_with("HTTP/1.1 404"));
  CHECK(send_raw(at, "POST /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
            .starts_with("HTTP/1.1 405"));
}

TEST_CASE("oversized or body-carrying requests are dropped without an answer", "[http]") {
  Logger log(LogLevel::error);
  auto server = serve({{"/metrics", [] { return http::Reply{}; }}}, log);
  const auto at = server->endpoints().front();
  CHECK(send_raw(at, "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(20000, 'a') + "\r\n\r\n").empty());
  CHECK(send_raw(at, "GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello").empty());
}

TEST_CASE("a silent client is cut off at the read deadline and does not block others", "[http]") {
  Logger log(LogLevel::error);
  http::ServerLimits limits;
  limits.read_timeout = std::chrono::milliseconds(300);
  auto server = serve({{"/healthz", [] { return http::Reply{200, "text/plain", "ok\n"}; }}}, log, limits);
  const auto at = server->endpoints().front();
  asio::io_context io;
  tcp::socket silent(io);
  silent.connect(at);
  asio::write(silent, asio::buffer(std::string("GET /hea")));  // and then nothing
  CHECK(get(at, "/healthz").starts_with("HTTP/1.1 200"));      // served meanwhile
  const auto began = std::chrono::steady_clock::now();
  std::string rest;
  boost::system::error_code ec;
  asio::read(silent, asio::dynamic_buffer(rest), ec);  // returns when the server closes it
  CHECK(ec == asio::error::eof);
  CHECK(std::chrono::steady_clock::now() - began < std::chrono::seconds(10));
}

TEST_CASE("connections beyond the limit are closed at once", "[http]") {
  Logger log(LogLevel::error);
  http::ServerLimits limits;
  limits.max_connections = 2;
  limits.read_timeout = std::chrono::seconds(30);
  auto server = serve({{"/healthz", [] { return http::Reply{200, "text/plain", "ok\n"}; }}}, log, limits);
  const auto at = server->endpoints().front();
  asio::io_context io;
  tcp::socket a(io), b(io);
  a.connect(at);
  b.connect(at);
  // Both slots are taken by idle clients: a third connection is closed without an answer...
  std::string answer;
  for (int attempt = 0; attempt < 50 && answer.empty(); ++attempt) {
    answer = get(at, "/healthz");
    if (answer.empty()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // the two may not be accepted yet
  }
  CHECK(answer.empty());
  // ...and once one leaves, the server answers again.
  a.close();
  bool served = false;
  for (int attempt = 0; attempt < 250 && !served; ++attempt) {
    served = get(at, "/healthz").starts_with("HTTP/1.1 200");
    if (!served) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  CHECK(served);
}

TEST_CASE("the role endpoints: probes on one address, metrics on another or the same", "[http]") {
  Logger log(LogLevel::error);
  metrics::Registry registry;
  registry.counter("jarvis_test_total", "a test counter").with({}).inc(5);
  bool ready = false;
  observability::Heartbeat heartbeat;
  observability::Probes probes{
      .live = observability::heartbeat_check(heartbeat),
      .ready = [&ready]() -> std::optional<std::string> {
        if (ready) return std::nullopt;
        return "caches not synced";
      }};
  SECTION("separate addresses") {
    auto served = observability::serve_endpoints({"127.0.0.1:0", "127.0.0.1:0"}, observability::controller_defaults,
                                                 probes, registry, log);
    REQUIRE(served);
    const auto at = (*served)->endpoints();
    REQUIRE(at.size() == 2);
    CHECK(get(at[0], "/healthz").starts_with("HTTP/1.1 200"));
    const std::string not_ready = get(at[0], "/readyz");
    CHECK(not_ready.starts_with("HTTP/1.1 500"));
    CHECK(not_ready.find("caches not synced") != std::string::npos);
    ready = true;
    CHECK(get(at[0], "/readyz").starts_with("HTTP/1.1 200"));
    CHECK(get(at[0], "/metrics").starts_with("HTTP/1.1 404"));
    const std::string scraped = get(at[1], "/metrics");
    CHECK(scraped.find("Content-Type: text/plain; version=0.0.4") != std::string::npos);
    CHECK(scraped.find("\r\n\r\n# HELP jarvis_test_total a test counter\n") != std::string::npos);
  }
  SECTION("the agent's default: metrics on the probe address") {
    auto served = observability::serve_endpoints({"127.0.0.1:0", ""}, observability::agent_defaults, probes,
                                                 registry, log);
    REQUIRE(served);
    const auto at = (*served)->endpoints();
    REQUIRE(at.size() == 1);
    CHECK(get(at[0], "/metrics").find("jarvis_test_total 5") != std::string::npos);
  }
  SECTION("0 disables both") {
    auto served = observability::serve_endpoints({"0", "0"}, observability::controller_defaults, probes, registry, log);
    REQUIRE(served);
    CHECK(*served == nullptr);
  }
  SECTION("a bad address names the flag") {
    auto served = observability::serve_endpoints({"nonsense", "0"}, observability::controller_defaults, probes,
                                                 registry, log);
    REQUIRE_FALSE(served);
    CHECK(served.error().message.find("--health-probe-bind-address") != std::string::npos);
  }
  SECTION("a stale heartbeat fails /healthz") {
    heartbeat.beat(std::chrono::steady_clock::now() - std::chrono::seconds(60));
    auto served = observability::serve_endpoints({"127.0.0.1:0", "0"}, observability::controller_defaults, probes,
                                                 registry, log);
    REQUIRE(served);
    const std::string dead = get((*served)->endpoints().front(), "/healthz");
    CHECK(dead.starts_with("HTTP/1.1 500"));
    CHECK(dead.find("event loop has not run") != std::string::npos);
  }
}
