// How a failed agent call becomes a node's reason: decided on the error's kind, never on its words.
#include <catch2/catch.hpp>

#include <grpcpp/support/status_code_enum.h>

#include "controller/command_status.hpp"
#include "controller/execution_tracker.hpp"

using namespace jarvis;
using namespace jarvis::controller;

namespace {

TrackedExecution run_on(std::string node, std::string address) {
  TrackedExecution run;
  run.command_key = "jarvis/cmd";
  run.node = std::move(node);
  run.address = std::move(address);
  run.execution_id = "uid-1.1.node";
  return run;
}

}  // namespace

TEST_CASE("a refused connection to an agent whose name says ssl is AgentUnreachable, not a TLS failure",
          "[execution_tracker]") {
  // The words "ssl", "certificate" or "handshake" in a node's name or address say nothing about TLS.
  const auto run = run_on("ssl-gateway-1", "ssl-gateway-1.certificate-handshake.example:50051");
  const Error refused{"agent ssl-gateway-1.certificate-handshake.example:50051: Start uid-1.1.node: UNAVAILABLE: "
                      "cannot connect: Connection refused",
                      static_cast<int>(grpc::StatusCode::UNAVAILABLE)};
  const TrackerResult r = start_failure(run, refused);
  CHECK(r.reason == reason::agent_unreachable);
}

TEST_CASE("a failed TLS handshake is AgentTLSFailed whatever its message says", "[execution_tracker]") {
  const auto run = run_on("kind-worker", "127.0.0.1:50051");
  const Error refused{"agent 127.0.0.1:50051: Start uid-1.1.node: UNAVAILABLE: the peer refused us (unknown ca)",
                      static_cast<int>(grpc::StatusCode::UNAVAILABLE), ErrorKind::tls_handshake};
  const TrackerResult r = start_failure(run, refused);
  CHECK(r.reason == reason::agent_tls_failed);
  CHECK(r.outcome.detail.find("jarvis-ca") != std::string::npos);  // the advice names the Secrets to check
}
