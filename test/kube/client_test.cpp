// Client behaviour that needs no API server: deadlines, retries on connection failures and cancellation,
// against real local sockets that refuse or never answer.
#include <catch2/catch.hpp>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstdio>
#include <exception>
#include <optional>
#include <string>

#include "kube/client.hpp"
#include "kube/informer.hpp"

using namespace jarvis;
using namespace jarvis::kube;
using namespace std::chrono_literals;
namespace asio = boost::asio;
namespace http = boost::beast::http;
using Clock = std::chrono::steady_clock;

namespace {

jarvis::Logger& quiet_log() {
  static jarvis::Logger log(jarvis::LogLevel::error, stderr);
  return log;
}

ClusterConfig local_config(unsigned short port) {
  ClusterConfig config;
  config.server = "https://127.0.0.1:" + std::to_string(port);
  REQUIRE(parse_server_url(config));
  config.source = "test";
  config.insecure_skip_verify = true;
  return config;
}

// A port nobody listens on: bound, then released.
unsigned short refused_port(asio::io_context& io) {
  asio::ip::tcp::acceptor acceptor(io, {asio::ip::make_address("127.0.0.1"), 0});
  return acceptor.local_endpoint().port();
}

struct Outcome {
  std::optional<jarvis::Result<Response>> result;
  std::exception_ptr exception;
  Clock::duration took{};
};

// Runs one request to completion (or cancels it after `cancel_after`) and reports what came back.
Outcome run_request(asio::io_context& io, Client& client, std::optional<Clock::duration> cancel_after = {}) {
  Outcome outcome;
  asio::cancellation_signal cancel;
  auto start = Clock::now();
  bool done = false;
  auto request = [&]() -> asio::awaitable<void> {
    outcome.result.emplace(co_await client.request(http::verb::get, "/api/v1/namespaces"));
    outcome.took = Clock::now() - start;
  };
  asio::co_spawn(io, request(), asio::bind_cancellation_slot(cancel.slot(), [&](std::exception_ptr e) {
                   outcome.exception = e;
                   done = true;
                 }));
  asio::steady_timer timer(io);
  if (cancel_after) {
    timer.expires_after(*cancel_after);
    timer.async_wait([&](boost::system::error_code) { cancel.emit(asio::cancellation_type::terminal); });
  }
  io.restart();
  while (!done && io.run_one_for(30s) > 0) {
  }
  timer.cancel();
  io.run_for(100ms);
  return outcome;
}

}  // namespace

TEST_CASE("a refused connection is retried, then reported as an error value") {
  asio::io_context io;
  ClientOptions options;
  options.max_retries = 2;
  Client client(io.get_executor(), local_config(refused_port(io)), options, quiet_log());
  Outcome outcome = run_request(io, client);
  REQUIRE_FALSE(outcome.exception);
  REQUIRE(outcome.result);
  REQUIRE_FALSE(*outcome.result);
  CHECK_THAT(outcome.result->error().message, Catch::Contains("GET /api/v1/namespaces: connect to 127.0.0.1:") &&
                                                  Catch::Contains("refused") && Catch::Contains("after 3 attempts"));
  // Two backoffs of 125-250 ms and 250-500 ms between the three attempts.
  CHECK(outcome.took >= 375ms);
  CHECK(outcome.took < 5s);
}

TEST_CASE("a request that fails through every retry is a warn line naming it") {
  asio::io_context io;
  ClientOptions options;
  options.max_retries = 1;
  std::FILE* sink = std::tmpfile();
  jarvis::Logger log(jarvis::LogLevel::warn, sink);
  Client client(io.get_executor(), local_config(refused_port(io)), options, log);
  Outcome outcome = run_request(io, client);
  REQUIRE(outcome.result);
  REQUIRE_FALSE(*outcome.result);
  std::fflush(sink);
  std::rewind(sink);
  std::string logged;
  char buffer[4096];
  while (const std::size_t n = std::fread(buffer, 1, sizeof buffer, sink)) logged.append(buffer, n);
  std::fclose(sink);
  CHECK_THAT(logged, Catch::Contains("\"level\":\"warn\"") && Catch::Contains("API request failed after retries") &&
                         Catch::Contains("GET /api/v1/namespaces") && Catch::Contains("\"attempts\":2"));
}

TEST_CASE("a server that accepts but never answers hits the deadline") {
  asio::io_context io;
  asio::ip::tcp::acceptor silent(io, {asio::ip::make_address("127.0.0.1"), 0});  // listens, never accepts
  ClientOptions options;
  options.max_retries = 0;
  options.request_timeout = 1s;
  Client client(io.get_executor(), local_config(silent.local_endpoint().port()), options, quiet_log());
  Outcome outcome = run_request(io, client);
  REQUIRE(outcome.result);
  REQUIRE_FALSE(*outcome.result);
  CHECK_THAT(outcome.result->error().message, Catch::Contains("TLS handshake") && Catch::Contains("timed out"));
  CHECK(outcome.took >= 900ms);
  CHECK(outcome.took < 5s);
}

TEST_CASE("cancelling a request ends it at once with a value, not an exception") {
  asio::io_context io;
  asio::ip::tcp::acceptor silent(io, {asio::ip::make_address("127.0.0.1"), 0});
  ClientOptions options;
  options.request_timeout = 30s;
  Client client(io.get_executor(), local_config(silent.local_endpoint().port()), options, quiet_log());
  Outcome outcome = run_request(io, client, 200ms);
  REQUIRE_FALSE(outcome.exception);
  REQUIRE(outcome.result);
  REQUIRE_FALSE(*outcome.result);
  CHECK(outcome.result->error().message == "cancelled");
  CHECK(outcome.took < 5s);
}

TEST_CASE("an informer against an unreachable server keeps retrying and stops cleanly when cancelled") {
  asio::io_context io;
  ClientOptions options;
  options.max_retries = 0;
  Client client(io.get_executor(), local_config(refused_port(io)), options, quiet_log());
  InformerOptions informer_options;
  informer_options.initial_backoff = 10ms;
  informer_options.max_backoff = 20ms;
  ResourceRef nodes;
  nodes.list_path = "/api/v1/nodes";
  Informer informer(client, nodes, quiet_log(), informer_options);
  asio::cancellation_signal cancel;
  bool done = false;
  std::exception_ptr failure;
  asio::co_spawn(io, informer.run(), asio::bind_cancellation_slot(cancel.slot(), [&](std::exception_ptr e) {
                   failure = e;
                   done = true;
                 }));
  auto deadline = Clock::now() + 20s;
  while (informer.stats().failures < 3 && Clock::now() < deadline) io.run_one_for(1s);
  CHECK(informer.stats().failures >= 3);
  CHECK_FALSE(informer.has_synced());
  cancel.emit(asio::cancellation_type::terminal);
  while (!done && Clock::now() < deadline) io.run_one_for(1s);
  CHECK(done);
  CHECK_FALSE(failure);
}

TEST_CASE("waiting for the first list ends with an error value when cancelled first") {
  asio::io_context io;
  ClientOptions options;
  options.max_retries = 0;
  Client client(io.get_executor(), local_config(refused_port(io)), options, quiet_log());
  ResourceRef nodes;
  nodes.list_path = "/api/v1/nodes";
  Informer informer(client, nodes, quiet_log());
  asio::cancellation_signal cancel;
  std::optional<jarvis::Status> waited;
  bool done = false;
  std::exception_ptr failure;
  auto wait = [&]() -> asio::awaitable<void> { waited.emplace(co_await informer.wait_synced()); };
  asio::co_spawn(io, wait(), asio::bind_cancellation_slot(cancel.slot(), [&](std::exception_ptr e) {
                   failure = e;
                   done = true;
                 }));
  io.run_for(50ms);
  CHECK_FALSE(done);
  cancel.emit(asio::cancellation_type::terminal);
  auto deadline = Clock::now() + 10s;
  io.restart();
  while (!done && Clock::now() < deadline) io.run_one_for(100ms);
  REQUIRE(done);
  CHECK_FALSE(failure);
  REQUIRE(waited);
  REQUIRE_FALSE(*waited);
  CHECK(waited->error().message == "cancelled");
}
