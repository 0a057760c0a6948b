// AgentClient against a real gRPC server on 127.0.0.1: a small in-process stand-in for the agent that
// answers with canned executions, so every status code path can be provoked on demand.
#include <catch2/catch.hpp>

#include <atomic>
#include <mutex>
#include <thread>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>

#include "controller/agent_client.hpp"

using namespace jarvis::controller;
namespace asio = boost::asio;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using jarvis::v1::Execution;

namespace {

class StandInAgent final : public jarvis::v1::Agent::Service {
 public:
  grpc::Status Start(grpc::ServerContext* context, const jarvis::v1::StartRequest* request,
                     Execution* response) override {
    record(context);
    {
      std::lock_guard lock(mu_);
      last_start_ = *request;
    }
    response->set_execution_id(request->execution_id());
    response->set_node_name("n1");
    response->set_state(jarvis::v1::STATE_RUNNING);
    response->set_command(request->command());
    return grpc::Status::OK;
  }

  grpc::Status Wait(grpc::ServerContext* context, const jarvis::v1::WaitRequest* request,
                    Execution* response) override {
    record(context);
    if (request->execution_id() == "slow") {
      // Holds the call until the client gives up, bounded so a broken client cannot hang the test.
      slow_calls_waiting_++;
      const auto limit = Clock::now() + 20s;
      while (!context->IsCancelled() && Clock::now() < limit) std::this_thread::sleep_for(5ms);
      slow_calls_waiting_--;
      slow_calls_seen_cancelled_ += context->IsCancelled() ? 1 : 0;
      return grpc::Status(grpc::StatusCode::CANCELLED, "client went away");
    }
    if (request->execution_id() != "known") {
      return grpc::Status(grpc::StatusCode::NOT_FOUND, "no execution " + request->execution_id());
    }
    last_max_wait_ms_ = request->max_wait_ms();
    response->set_execution_id("known");
    response->set_state(jarvis::v1::STATE_SUCCEEDED);
    response->set_exited(true);
    response->set_output(std::string("hi\n\xff\x00", 5));
    response->set_output_bytes_total(5);
    return grpc::Status::OK;
  }

  grpc::Status Cancel(grpc::ServerContext* context, const jarvis::v1::CancelRequest* request,
                      Execution* response) override {
    record(context);
    if (request->execution_id() != "known") return grpc::Status(grpc::StatusCode::NOT_FOUND, "no such execution");
    response->set_execution_id("known");
    response->set_state(jarvis::v1::STATE_CANCELED);
    return grpc::Status::OK;
  }

  jarvis::v1::StartRequest last_start() {
    std::lock_guard lock(mu_);
    return last_start_;
  }
  std::vector<std::string> peers() {
    std::lock_guard lock(mu_);
    return peers_;
  }
  std::atomic<int> slow_calls_waiting_{0};
  std::atomic<int> slow_calls_seen_cancelled_{0};
  std::atomic<std::uint32_t> last_max_wait_ms_{0};

 private:
  void record(grpc::ServerContext* context) {
    std::lock_guard lock(mu_);
    peers_.push_back(context->peer());
  }
  std::mutex mu_;
  jarvis::v1::StartRequest last_start_;
  std::vector<std::string> peers_;
};

// The stand-in served on a free loopback port for the test's lifetime.
struct StandInServer {
  StandInAgent agent;
  std::unique_ptr<grpc::Server> server;
  std::string address;

  StandInServer() {
    int port = 0;
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&agent);
    server = builder.BuildAndStart();
    REQUIRE(server);
    REQUIRE(port > 0);
    address = "127.0.0.1:" + std::to_string(port);
  }
  ~StandInServer() { server->Shutdown(std::chrono::system_clock::now() + 2s); }
};

// A loopback port nothing listens on: bound to find a free one, then closed.
std::string closed_port_address() {
  asio::io_context io;
  asio::ip::tcp::acceptor acceptor(io, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  const auto port = acceptor.local_endpoint().port();
  acceptor.close();
  return "127.0.0.1:" + std::to_string(port);
}

struct CallResult {
  bool finished = false;
  std::optional<jarvis::Result<Execution>> result;
  std::thread::id completed_on;
};

asio::awaitable<void> complete_into(std::shared_ptr<CallResult> out, asio::awaitable<jarvis::Result<Execution>> call) {
  out->result.emplace(co_await std::move(call));
  out->completed_on = std::this_thread::get_id();
  out->finished = true;
}

std::shared_ptr<CallResult> spawn(asio::io_context& io, asio::awaitable<jarvis::Result<Execution>> call,
                                  asio::cancellation_slot slot = {}) {
  auto out = std::make_shared<CallResult>();
  asio::co_spawn(io, complete_into(out, std::move(call)), asio::bind_cancellation_slot(slot, [](std::exception_ptr error) {
                   if (error) std::rethrow_exception(error);
                 }));
  return out;
}

// Runs the io_context until `done()` holds, at most `limit`.
template <typename Done>
void run_until(asio::io_context& io, Done done, std::chrono::milliseconds limit = 10s) {
  const auto deadline = Clock::now() + limit;
  while (!done() && Clock::now() < deadline) {
    io.restart();
    io.run_one_for(std::min<Clock::duration>(deadline - Clock::now(), 10ms));
  }
}

jarvis::Result<Execution> run_call(asio::io_context& io, asio::awaitable<jarvis::Result<Execution>> call) {
  const auto pending = spawn(io, std::move(call));
  run_until(io, [&] { return pending->finished; });
  REQUIRE(pending->finished);
  CHECK(pending->completed_on == std::this_thread::get_id());
  return std::move(*pending->result);
}

}  // namespace

TEST_CASE("start, wait and cancel round trips", "[agent_client]") {
  StandInServer agent;
  asio::io_context io;
  jarvis::Logger log(jarvis::LogLevel::warn, stderr);
  AgentClient client(io.get_executor(), log, jarvis::tls::TransportSecurity::plaintext());

  jarvis::v1::StartRequest request;
  request.set_execution_id("uid-1.1.n1");
  request.set_command("echo hi");
  request.set_timeout_seconds(30);
  request.mutable_origin()->set_name("c");
  const auto started = run_call(io, client.start(agent.address, request, 5s));
  REQUIRE(started.ok());
  CHECK(started->execution_id() == "uid-1.1.n1");
  CHECK(started->state() == jarvis::v1::STATE_RUNNING);
  CHECK(agent.agent.last_start().command() == "echo hi");
  CHECK(agent.agent.last_start().timeout_seconds() == 30);
  CHECK(agent.agent.last_start().origin().name() == "c");

  const auto waited = run_call(io, client.wait(agent.address, "known", 1500ms, 5s));
  REQUIRE(waited.ok());
  CHECK(waited->state() == jarvis::v1::STATE_SUCCEEDED);
  CHECK(waited->output() == std::string("hi\n\xff\x00", 5));
  CHECK(agent.agent.last_max_wait_ms_ == 1500);

  const auto canceled = run_call(io, client.cancel(agent.address, "known", 5s));
  REQUIRE(canceled.ok());
  CHECK(canceled->state() == jarvis::v1::STATE_CANCELED);

  // One channel per address: every call came over the same connection.
  const auto peers = agent.agent.peers();
  REQUIRE(peers.size() == 3);
  CHECK(peers[0] == peers[1]);
  CHECK(peers[1] == peers[2]);

  client.forget(agent.address);
  REQUIRE(run_call(io, client.cancel(agent.address, "known", 5s)).ok());
  CHECK(agent.agent.peers().back() != peers[0]);
}

TEST_CASE("idle channels are closed, busy ones kept, and reopened on the next call", "[agent_client]") {
  StandInServer agent;
  asio::io_context io;
  jarvis::Logger log(jarvis::LogLevel::warn, stderr);
  AgentClient client(io.get_executor(), log, jarvis::tls::TransportSecurity::plaintext());
  CHECK(client.open_channels() == 0);

  REQUIRE(run_call(io, client.cancel(agent.address, "known", 5s)).ok());
  REQUIRE(client.open_channels() == 1);
  // Idle for less than asked: kept.
  CHECK(client.close_channels_idle_for(1h) == 0);
  CHECK(client.open_channels() == 1);

  // A call in flight keeps its channel whatever the idle time asked.
  asio::cancellation_signal stop;
  const auto slow = spawn(io, client.wait(agent.address, "slow", 10s, 20s), stop.slot());
  run_until(io, [&] { return agent.agent.slow_calls_waiting_ == 1; });
  REQUIRE(agent.agent.slow_calls_waiting_ == 1);
  CHECK(client.close_channels_idle_for(0s) == 0);
  CHECK(client.open_channels() == 1);
  stop.emit(asio::cancellation_type::terminal);
  run_until(io, [&] { return slow->finished; });
  REQUIRE(slow->finished);

  // Once the call ended, the channel is idle, and closed.
  CHECK(client.close_channels_idle_for(0s) == 1);
  CHECK(client.open_channels() == 0);
  const auto before = agent.agent.peers();
  REQUIRE(run_call(io, client.cancel(agent.address, "known", 5s)).ok());
  CHECK(client.open_channels() == 1);
  CHECK(agent.agent.peers().back() != before.back());  // a new connection
}

TEST_CASE("unknown executions give NOT_FOUND naming the agent", "[agent_client]") {
  StandInServer agent;
  asio::io_context io;
  jarvis::Logger log(jarvis::LogLevel::warn, stderr);
  AgentClient client(io.get_executor(), log, jarvis::tls::TransportSecurity::plaintext());

  const auto waited = run_call(io, client.wait(agent.address, "nope", 0ms, 5s));
  REQUIRE_FALSE(waited.ok());
  CHECK(waited.error().code == static_cast<int>(grpc::StatusCode::NOT_FOUND));
  CHECK(waited.error().message == "agent " + agent.address + ": Wait nope: NOT_FOUND: no execution nope");

  const auto canceled = run_call(io, client.cancel(agent.address, "nope", 5s));
  REQUIRE_FALSE(canceled.ok());
  CHECK(canceled.error().code == static_cast<int>(grpc::StatusCode::NOT_FOUND));
}

TEST_CASE("an unreachable agent gives UNAVAILABLE within the deadline", "[agent_client]") {
  const std::string address = closed_port_address();
  asio::io_context io;
  jarvis::Logger log(jarvis::LogLevel::warn, stderr);
  AgentClient client(io.get_executor(), log, jarvis::tls::TransportSecurity::plaintext());
  jarvis::v1::StartRequest request;
  request.set_execution_id("x");
  request.set_command("true");
  const auto begin = Clock::now();
  const auto started = run_call(io, client.start(address, request, 3s));
  REQUIRE_FALSE(started.ok());
  CHECK(started.error().code == static_cast<int>(grpc::StatusCode::UNAVAILABLE));
  CHECK(started.error().message.rfind("agent " + address + ": Start x: UNAVAILABLE", 0) == 0);
  CHECK(Clock::now() - begin < 3s);

  // Again on the cached channel, now in reconnect backoff: still a prompt UNAVAILABLE.
  const auto again = run_call(io, client.wait(address, "x", 0ms, 3s));
  REQUIRE_FALSE(again.ok());
  CHECK(again.error().code == static_cast<int>(grpc::StatusCode::UNAVAILABLE));
}

TEST_CASE("a call past its deadline gives DEADLINE_EXCEEDED", "[agent_client]") {
  StandInServer agent;
  asio::io_context io;
  jarvis::Logger log(jarvis::LogLevel::warn, stderr);
  AgentClient client(io.get_executor(), log, jarvis::tls::TransportSecurity::plaintext());
  const auto begin = Clock::now();
  const auto waited = run_call(io, client.wait(agent.address, "slow", 60s, 300ms));
  const auto elapsed = Clock::now() - begin;
  REQUIRE_FALSE(waited.ok());
  CHECK(waited.error().code == static_cast<int>(grpc::StatusCode::DEADLINE_EXCEEDED));
  // Not cut short: gRPC measures the deadline on its own clock, which may run a fraction of a millisecond
  // ahead of steady_clock (299.5 ms was seen under ASan at -O0), hence the margin.
  CHECK(elapsed >= 250ms);
  CHECK(elapsed < 5s);
}

TEST_CASE("cancelling the awaiting coroutine cancels the RPC", "[agent_client]") {
  StandInServer agent;
  asio::io_context io;
  jarvis::Logger log(jarvis::LogLevel::warn, stderr);
  AgentClient client(io.get_executor(), log, jarvis::tls::TransportSecurity::plaintext());
  asio::cancellation_signal cancel;
  const auto pending = spawn(io, client.wait(agent.address, "slow", 60s, 30s), cancel.slot());
  run_until(io, [&] { return agent.agent.slow_calls_waiting_ > 0; });
  REQUIRE(agent.agent.slow_calls_waiting_ == 1);
  CHECK_FALSE(pending->finished);

  const auto begin = Clock::now();
  cancel.emit(asio::cancellation_type::terminal);
  run_until(io, [&] { return pending->finished; });
  REQUIRE(pending->finished);
  CHECK(Clock::now() - begin < 5s);
  const auto& result = *pending->result;
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().code == static_cast<int>(grpc::StatusCode::CANCELLED));
  CHECK(pending->completed_on == std::this_thread::get_id());
  // The agent saw the cancellation too: the call did not linger on the server.
  run_until(io, [&] { return agent.agent.slow_calls_seen_cancelled_ == 1; }, 5s);
  CHECK(agent.agent.slow_calls_seen_cancelled_ == 1);
}

TEST_CASE("many concurrent calls on one thread", "[agent_client]") {
  StandInServer agent;
  asio::io_context io;
  jarvis::Logger log(jarvis::LogLevel::warn, stderr);
  AgentClient client(io.get_executor(), log, jarvis::tls::TransportSecurity::plaintext());
  std::vector<std::shared_ptr<CallResult>> calls;
  for (int i = 0; i < 50; ++i) {
    calls.push_back(spawn(io, client.wait(agent.address, i % 2 == 0 ? "known" : "missing", 0ms, 5s)));
  }
  run_until(io, [&] {
    return std::all_of(calls.begin(), calls.end(), [](const auto& c) { return c->finished; });
  });
  for (int i = 0; i < 50; ++i) {
    REQUIRE(calls[i]->finished);
    CHECK(calls[i]->result->ok() == (i % 2 == 0));
    CHECK(calls[i]->completed_on == std::this_thread::get_id());
  }
}

TEST_CASE("a coroutine already cancelled gets CANCELLED without a call", "[agent_client]") {
  StandInServer agent;
  asio::io_context io;
  jarvis::Logger log(jarvis::LogLevel::warn, stderr);
  AgentClient client(io.get_executor(), log, jarvis::tls::TransportSecurity::plaintext());
  asio::steady_timer never(io, std::chrono::hours(1));
  std::optional<jarvis::Result<Execution>> result;
  asio::cancellation_signal cancel;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        // Without this, Asio throws operation_aborted at the next co_await of a cancelled coroutine.
        co_await asio::this_coro::throw_if_cancelled(false);
        co_await never.async_wait(asio::as_tuple(asio::use_awaitable));
        result.emplace(co_await client.wait(agent.address, "known", 0ms, 5s));
      },
      asio::bind_cancellation_slot(cancel.slot(), [](std::exception_ptr error) {
        if (error) std::rethrow_exception(error);
      }));
  io.poll();
  cancel.emit(asio::cancellation_type::terminal);
  run_until(io, [&] { return result.has_value(); });
  REQUIRE(result.has_value());
  REQUIRE_FALSE(result->ok());
  CHECK(result->error().code == static_cast<int>(grpc::StatusCode::CANCELLED));
  CHECK(agent.agent.peers().empty());
}
