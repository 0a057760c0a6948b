// Integration: AgentClient against a real `jarvis --role=agent` process on a loopback port (JARVIS_BIN),
// and the event the controller would post for what the agent reports.
#include <catch2/catch.hpp>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <sstream>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <rapidjson/document.h>

#include "controller/agent_client.hpp"
#include "controller/event_message.hpp"
#include "support/child_program.hpp"
#include "support/run_until.hpp"
#include "support/temporary_directory.hpp"
#include "tls/certificates.hpp"
#include "tls/handshake_refusal.hpp"
#include "tls/identities.hpp"
#include "tls/tls_directory.hpp"

using namespace jarvis::controller;
namespace asio = boost::asio;
namespace test = jarvis::test;
using namespace std::chrono_literals;
using jarvis::v1::Execution;

namespace {

int listening_port(const std::string& log) {
  std::istringstream in(log);
  for (std::string line; std::getline(in, line);) {
    rapidjson::Document doc;
    doc.Parse(line.c_str());
    if (doc.HasParseError() || !doc.IsObject() || !doc.HasMember("msg") || !doc["msg"].IsString()) continue;
    if (std::string(doc["msg"].GetString()) == "agent listening" && doc.HasMember("port") && doc["port"].IsInt()) {
      return doc["port"].GetInt();
    }
  }
  return 0;
}

// The Jarvis PKI in a temporary directory, made with the same code the controller uses: the agent's TLS
// directory and the controller's, plus one with the agent's certificate (a stolen node key) used as a client.
// `agent_name` is the DNS name the agent's certificate carries (another one makes an impostor).
struct TestPki {
  test::TemporaryDirectory dir;
  std::filesystem::path agent_dir = dir.path() / "agent";
  std::filesystem::path controller_dir = dir.path() / "controller";
  std::filesystem::path node_key_dir = dir.path() / "node-key";

  explicit TestPki(std::string_view agent_name = jarvis::tls::agent_identity) {
    const auto now = jarvis::tls::Clock::now();
    auto ca = jarvis::tls::make_certificate_authority("jarvis-ca", 24h, now);
    REQUIRE(ca.ok());
    auto agent = jarvis::tls::issue_certificate(*ca, agent_name, jarvis::tls::Usage::server, 1h, now);
    auto controller =
        jarvis::tls::issue_certificate(*ca, jarvis::tls::controller_identity, jarvis::tls::Usage::client, 1h, now);
    REQUIRE(agent.ok());
    REQUIRE(controller.ok());
    REQUIRE(jarvis::tls::write_tls_directory(agent_dir, {ca->certificate_pem, *agent}).ok());
    REQUIRE(jarvis::tls::write_tls_directory(controller_dir, {ca->certificate_pem, *controller}).ok());
    REQUIRE(jarvis::tls::write_tls_directory(node_key_dir, {ca->certificate_pem, *agent}).ok());
  }

  jarvis::tls::TransportSecurity controller() const {
    return jarvis::tls::TransportSecurity::mutual_tls(controller_dir.string());
  }
};

// A real agent for node "n1" serving mutual TLS, stopped (by ChildProgram) when the test ends, even on failure.
struct RealAgent {
  TestPki pki;
  std::unique_ptr<test::ChildProgram> program;
  int port = 0;
  std::string address;

  explicit RealAgent(std::string_view agent_name = jarvis::tls::agent_identity) : pki(agent_name) {
    start("127.0.0.1:0");
    address = "127.0.0.1:" + std::to_string(port);
  }

  // Stops the agent (SIGTERM) and starts a new one on the same port, state directory and files: a restart.
  void restart() {
    program->signal(SIGTERM);
    REQUIRE(program->wait_for_exit(30s).has_value());
    program.reset();
    start(address);
  }

  void start(const std::string& listen) {
    program = std::make_unique<test::ChildProgram>(arguments(pki, listen));
    port = 0;
    const bool listening = test::eventually(
        [&] {
          port = listening_port(program->standard_output());
          return port != 0 || program->wait_for_exit(0ms).has_value();
        },
        30s);
    INFO("agent stdout:\n" << program->standard_output() << "\nagent stderr:\n" << program->standard_error());
    REQUIRE(listening);
    REQUIRE(port != 0);
  }

  static std::vector<std::string> arguments(const TestPki& pki, const std::string& listen) {
    const char* jarvis = std::getenv("JARVIS_BIN");
    if (jarvis == nullptr) FAIL("JARVIS_BIN is not set; run this test through `meson test`");
    return {jarvis, "--role=agent", "--listen=" + listen, "--host-root=/", "--node-name=n1",
            "--tls-dir=" + pki.agent_dir.string(), "--state-dir=" + (pki.dir.path() / "state").string(),
            "--health-probe-bind-address=127.0.0.1:0"};
  }
};

// What AgentClient reported as refused TLS handshakes.
struct Refusals {
  std::vector<std::pair<std::string, std::string>> seen;  // reason, agent
  AgentConnector::OnRefused recorder() {
    return [this](std::string_view reason, std::string_view, std::string_view agent) {
      seen.emplace_back(std::string(reason), std::string(agent));
    };
  }
};

jarvis::Result<Execution> run_call(asio::io_context& io, asio::awaitable<jarvis::Result<Execution>> call) {
  std::optional<jarvis::Result<Execution>> result;
  asio::co_spawn(
      io, [&]() -> asio::awaitable<void> { result.emplace(co_await std::move(call)); },
      [](std::exception_ptr error) {
        if (error) std::rethrow_exception(error);
      });
  REQUIRE(test::run_until(io, [&] { return result.has_value(); }, 30s));
  return std::move(*result);
}

// Waits in long polls until the execution has finished, at most about 30 s.
Execution wait_until_finished(asio::io_context& io, AgentClient& client, const std::string& address,
                              const std::string& id) {
  for (int poll = 0; poll < 6; ++poll) {
    auto waited = run_call(io, client.wait(address, id, 5s, 10s));
    REQUIRE(waited.ok());
    if (waited->state() != jarvis::v1::STATE_RUNNING) return std::move(waited).value();
  }
  FAIL("execution " << id << " still running after 30 s");
  return {};
}

}  // namespace

TEST_CASE("start and wait round trip with a real agent: echo hi", "[agent_client][process]") {
  RealAgent agent;
  asio::io_context io;
  jarvis::Logger log(jarvis::LogLevel::warn, stderr);
  AgentClient client(io.get_executor(), log, agent.pki.controller());

  jarvis::v1::StartRequest request;
  request.set_execution_id("uid-1.1.n1");
  request.set_command("echo hi");
  request.set_timeout_seconds(30);
  const auto started = run_call(io, client.start(agent.address, request, 10s));
  REQUIRE(started.ok());
  CHECK(started->execution_id() == "uid-1.1.n1");

  const Execution finished = wait_until_finished(io, client, agent.address, "uid-1.1.n1");
  CHECK(finished.state() == jarvis::v1::STATE_SUCCEEDED);
  CHECK(finished.node_name() == "n1");
  CHECK(finished.output() == "hi\n");

  // Start again with the same id: the agent answers with the finished execution instead of running it again.
  const auto again = run_call(io, client.start(agent.address, request, 10s));
  REQUIRE(again.ok());
  CHECK(again->state() == jarvis::v1::STATE_SUCCEEDED);
  CHECK(again->start_time_unix_ms() == finished.start_time_unix_ms());

  const auto outcome = outcome_of(finished, 30);
  REQUIRE(outcome);
  CommandMeta meta;
  meta.ns = "default";
  meta.name = "greet";
  const auto event = make_node_event(meta, "echo hi", finished.node_name(), *outcome);
  CHECK(event.reason == "greet-n1");
  CHECK(event.type == "Normal");
  CHECK(event.message == "❯ echo hi\nhi");
}

TEST_CASE("a real agent: unknown ids, failures and cancellation", "[agent_client][process]") {
  RealAgent agent;
  asio::io_context io;
  jarvis::Logger log(jarvis::LogLevel::warn, stderr);
  AgentClient client(io.get_executor(), log, agent.pki.controller());

  const auto unknown = run_call(io, client.wait(agent.address, "never-started", 0ms, 10s));
  REQUIRE_FALSE(unknown.ok());
  CHECK(unknown.error().code == static_cast<int>(grpc::StatusCode::NOT_FOUND));

  jarvis::v1::StartRequest failing;
  failing.set_execution_id("fails");
  failing.set_command("echo oops >&2; exit 3");
  REQUIRE(run_call(io, client.start(agent.address, failing, 10s)).ok());
  const auto failed = outcome_of(wait_until_finished(io, client, agent.address, "fails"), 300);
  REQUIRE(failed);
  CHECK(failed->ending == NodeOutcome::Ending::exited);
  CHECK(failed->exit_code == 3);
  CHECK(make_node_event(CommandMeta{}, "x", "n1", *failed).message == "❯ x\noops\nexit code 3");

  jarvis::v1::StartRequest sleeper;
  sleeper.set_execution_id("sleeps");
  sleeper.set_command("sleep 60");
  REQUIRE(run_call(io, client.start(agent.address, sleeper, 10s)).ok());
  const auto canceled = run_call(io, client.cancel(agent.address, "sleeps", 10s));
  REQUIRE(canceled.ok());
  const auto ended = outcome_of(wait_until_finished(io, client, agent.address, "sleeps"), 300);
  REQUIRE(ended);
  CHECK(ended->ending == NodeOutcome::Ending::canceled);
}

TEST_CASE("a real agent refuses clients without the controller's certificate; their commands never run",
          "[agent_client][process][tls]") {
  RealAgent agent;
  asio::io_context io;
  jarvis::Logger log(jarvis::LogLevel::error, stderr);
  const auto marker = agent.pki.dir.path() / "ran";
  jarvis::v1::StartRequest request;
  request.set_command("touch " + marker.string());
  request.set_timeout_seconds(30);

  SECTION("plaintext") {
    AgentClient client(io.get_executor(), log, jarvis::tls::TransportSecurity::plaintext());
    request.set_execution_id("plaintext");
    const auto started = run_call(io, client.start(agent.address, request, 5s));
    REQUIRE_FALSE(started.ok());
    CHECK(started.error().code == static_cast<int>(grpc::StatusCode::UNAVAILABLE));
  }
  SECTION("the agents' own certificate (a node's key) used as a client") {
    Refusals refusals;
    AgentClient client(io.get_executor(), log,
                       jarvis::tls::TransportSecurity::mutual_tls(agent.pki.node_key_dir.string()),
                       AgentClient::default_concurrent_starts, refusals.recorder());
    request.set_execution_id("node-key");
    const auto started = run_call(io, client.start(agent.address, request, 5s));
    REQUIRE_FALSE(started.ok());
    CHECK(started.error().code == static_cast<int>(grpc::StatusCode::UNAVAILABLE));
    CHECK_THAT(started.error().message,
               Catch::Matchers::StartsWith("agent " + agent.address + ": Start node-key: UNAVAILABLE: TLS handshake "
                                           "failed: the agent refused the controller's certificate"));
    const std::vector<std::pair<std::string, std::string>> expected{
        {std::string(jarvis::tls::refusal::agent_refused_us), agent.address}};
    CHECK(refusals.seen == expected);
  }
  SECTION("a controller of another CA, which also refuses the agent") {
    TestPki other;
    Refusals refusals;
    AgentClient client(io.get_executor(), log, other.controller(), AgentClient::default_concurrent_starts,
                       refusals.recorder());
    request.set_execution_id("other-ca");
    const auto started = run_call(io, client.start(agent.address, request, 5s));
    REQUIRE_FALSE(started.ok());
    CHECK(started.error().code == static_cast<int>(grpc::StatusCode::UNAVAILABLE));
    CHECK_THAT(started.error().message,
               Catch::Matchers::Contains("TLS handshake failed: " + std::string(jarvis::tls::refusal::unknown_ca)));
    const std::vector<std::pair<std::string, std::string>> expected{
        {std::string(jarvis::tls::refusal::unknown_ca), agent.address}};
    CHECK(refusals.seen == expected);
  }

  // The right controller gets through, so the refusals above were about identity, and the agent is up.
  AgentClient controller(io.get_executor(), log, agent.pki.controller());
  jarvis::v1::StartRequest check;
  check.set_execution_id("controller");
  check.set_command("true");
  REQUIRE(run_call(io, controller.start(agent.address, check, 10s)).ok());
  CHECK(wait_until_finished(io, controller, agent.address, "controller").state() == jarvis::v1::STATE_SUCCEEDED);
  CHECK_FALSE(std::filesystem::exists(marker));
  const auto refused = run_call(io, controller.wait(agent.address, request.execution_id(), 0ms, 10s));
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == static_cast<int>(grpc::StatusCode::NOT_FOUND));
}

TEST_CASE("the controller refuses an agent whose certificate does not name the agents' identity",
          "[agent_client][process][tls]") {
  RealAgent impostor("not-an-agent");  // issued by the right CA, for server use, under another name
  asio::io_context io;
  jarvis::Logger log(jarvis::LogLevel::error, stderr);
  Refusals refusals;
  AgentClient client(io.get_executor(), log, impostor.pki.controller(), AgentClient::default_concurrent_starts,
                     refusals.recorder());
  const auto marker = impostor.pki.dir.path() / "ran";
  jarvis::v1::StartRequest request;
  request.set_execution_id("impostor");
  request.set_command("touch " + marker.string());
  request.set_timeout_seconds(30);
  const auto started = run_call(io, client.start(impostor.address, request, 5s));
  REQUIRE_FALSE(started.ok());
  CHECK(started.error().code == static_cast<int>(grpc::StatusCode::UNAVAILABLE));
  CHECK_THAT(started.error().message, Catch::Matchers::Contains(
                                          std::string(jarvis::tls::refusal::wrong_identity) + ": ") &&
                                          Catch::Matchers::Contains("must name jarvis-agent") &&
                                          Catch::Matchers::Contains("DNS:not-an-agent"));
  const std::vector<std::pair<std::string, std::string>> expected{
      {std::string(jarvis::tls::refusal::wrong_identity), impostor.address}};
  CHECK(refusals.seen == expected);
  CHECK_FALSE(std::filesystem::exists(marker));
}

TEST_CASE("after the agent restarts, the next call opens a new connection and gets through",
          "[agent_client][process][tls]") {
  RealAgent agent;
  asio::io_context io;
  jarvis::Logger log(jarvis::LogLevel::error, stderr);
  AgentClient client(io.get_executor(), log, agent.pki.controller());
  jarvis::v1::StartRequest request;
  request.set_execution_id("before");
  request.set_command("true");
  REQUIRE(run_call(io, client.start(agent.address, request, 10s)).ok());
  CHECK(wait_until_finished(io, client, agent.address, "before").state() == jarvis::v1::STATE_SUCCEEDED);
  REQUIRE(client.open_channels() == 1);

  // The channel's connection ends with the agent; a channel on a descriptor never reconnects by itself.
  agent.restart();
  // The first call may still go out on the old connection, before its end was read: it fails UNAVAILABLE and
  // marks the channel broken. The next one opens a new connection; without that it would fail the same way
  // forever. The agent's journal (same state directory) still knows the execution.
  auto waited = run_call(io, client.wait(agent.address, "before", 0ms, 10s));
  if (!waited.ok()) {
    CHECK(waited.error().code == static_cast<int>(grpc::StatusCode::UNAVAILABLE));
    waited = run_call(io, client.wait(agent.address, "before", 0ms, 10s));
  }
  REQUIRE(waited.ok());
  CHECK(waited->state() == jarvis::v1::STATE_SUCCEEDED);
  request.set_execution_id("after");
  REQUIRE(run_call(io, client.start(agent.address, request, 10s)).ok());
  CHECK(wait_until_finished(io, client, agent.address, "after").state() == jarvis::v1::STATE_SUCCEEDED);
  CHECK(client.open_channels() == 1);
}

TEST_CASE("a Wait on an agent that stops answering (SIGSTOP) fails UNAVAILABLE after the keepalive timeout, long "
          "before its deadline",
          "[agent_client][process][keepalive]") {
  RealAgent agent;
  asio::io_context io;
  jarvis::Logger log(jarvis::LogLevel::error, stderr);
  AgentClient client(io.get_executor(), log, agent.pki.controller(), AgentClient::default_concurrent_starts, {},
                     AgentKeepalive{.time = 1s, .timeout = 1s});
  jarvis::v1::StartRequest request;
  request.set_execution_id("long");
  request.set_command("sleep 600");
  request.set_timeout_seconds(900);
  REQUIRE(run_call(io, client.start(agent.address, request, 10s)).ok());

  // The agent holds a Wait up to a minute; the call may take ten.
  constexpr auto call_deadline = 600s;
  std::optional<jarvis::Result<Execution>> waited;
  asio::co_spawn(
      io, [&]() -> asio::awaitable<void> { waited.emplace(co_await client.wait(agent.address, "long", 60s, call_deadline)); },
      [](std::exception_ptr error) {
        if (error) std::rethrow_exception(error);
      });
  // The Wait is sent (whether it reached the agent first does not matter), then the agent goes silent: its
  // process stops, its kernel still holds the connection open and acknowledges every TCP segment.
  io.poll();
  REQUIRE_FALSE(waited.has_value());
  agent.program->signal(SIGSTOP);
  struct Resume {  // whatever happens below, the agent can be stopped when the test ends
    test::ChildProgram& program;
    ~Resume() { program.signal(SIGCONT); }
  } resume{*agent.program};

  // Generous (the machine may be loaded), and still far below the call's deadline.
  REQUIRE(test::run_until(io, [&] { return waited.has_value(); }, 60s));
  REQUIRE_FALSE(waited->ok());
  CHECK(waited->error().code == static_cast<int>(grpc::StatusCode::UNAVAILABLE));
}
