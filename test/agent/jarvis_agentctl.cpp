// jarvis-agentctl: a tiny gRPC client of the agent for test suites (not installed).
//
//   jarvis-agentctl --target HOST:PORT start --id ID --command CMD [--timeout S] [--max-output-bytes N] [--wait]
//                   [--resume --dispatched-unix-ms MS]
//   jarvis-agentctl --target HOST:PORT wait --id ID [--max-wait-ms N]
//   jarvis-agentctl --target HOST:PORT cancel --id ID
//
// Prints the resulting Execution as one line of JSON (proto field names; state as its enum name; output as a
// string with invalid UTF-8 replaced by U+FFFD). Exits 0 when the RPC succeeded, whatever the command's exit;
// 1 with the gRPC status on stderr when it failed; 2 on a usage error.
#include <chrono>
#include <cstdio>
#include <iterator>
#include <string>

#include <CLI/CLI.hpp>
#include <grpcpp/client_context.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "common/utf8.hpp"
#include "jarvis.grpc.pb.h"
#include "support/client_credentials.hpp"

namespace {

using Clock = std::chrono::system_clock;
constexpr std::chrono::seconds rpc_margin{10};

std::string to_json(const jarvis::v1::Execution& e) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> w(buffer);
  w.StartObject();
  w.Key("execution_id");
  w.String(jarvis::valid_utf8(e.execution_id()));
  w.Key("node_name");
  w.String(jarvis::valid_utf8(e.node_name()));
  w.Key("state");
  w.String(jarvis::v1::State_Name(e.state()));
  w.Key("exited");
  w.Bool(e.exited());
  w.Key("exit_code");
  w.Int(e.exit_code());
  w.Key("signal");
  w.Int(e.signal());
  w.Key("output");
  w.String(jarvis::valid_utf8(e.output()));
  w.Key("output_bytes_total");
  w.Uint64(e.output_bytes_total());
  w.Key("truncated");
  w.Bool(e.truncated());
  w.Key("start_time_unix_ms");
  w.Int64(e.start_time_unix_ms());
  w.Key("end_time_unix_ms");
  w.Int64(e.end_time_unix_ms());
  w.Key("reason");
  w.String(jarvis::valid_utf8(e.reason()));
  w.Key("command");
  w.String(jarvis::valid_utf8(e.command()));
  w.EndObject();
  return buffer.GetString();
}

const char* status_code_name(grpc::StatusCode code) {
  static constexpr const char* names[] = {
      "OK",        "CANCELLED",         "UNKNOWN",           "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
      "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED",
      "OUT_OF_RANGE", "UNIMPLEMENTED",   "INTERNAL",          "UNAVAILABLE",      "DATA_LOSS",         "UNAUTHENTICATED"};
  const auto index = static_cast<std::size_t>(code);
  return index < std::size(names) ? names[index] : "UNKNOWN";
}

int report(const char* rpc, const grpc::Status& status, const jarvis::v1::Execution& execution) {
  if (!status.ok()) {
    std::fprintf(stderr, "jarvis-agentctl: %s failed: %s: %s\n", rpc, status_code_name(status.error_code()),
                 status.error_message().c_str());
    return 1;
  }
  std::printf("%s\n", to_json(execution).c_str());
  return 0;
}

grpc::Status wait(jarvis::v1::Agent::Stub& stub, const std::string& id, std::uint32_t max_wait_ms,
                  jarvis::v1::Execution& execution) {
  grpc::ClientContext context;
  context.set_deadline(Clock::now() + std::chrono::milliseconds(max_wait_ms) + rpc_margin);
  jarvis::v1::WaitRequest request;
  request.set_execution_id(id);
  request.set_max_wait_ms(max_wait_ms);
  return stub.Wait(&context, request, &execution);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"jarvis-agentctl: calls one RPC of a Jarvis agent and prints the Execution as JSON"};
  std::string target;
  std::string id;
  app.add_option("--target", target, "agent address, host:port")->required();
  jarvis::test::ClientTls tls;
  tls.insecure = false;
  app.add_flag("--insecure", tls.insecure, "plaintext (the agent runs with --insecure)");
  app.add_option("--ca", tls.ca_file, "mutual TLS: CA file the agent's certificate must chain to");
  app.add_option("--cert", tls.certificate_file, "mutual TLS: client certificate file (omit to present none)");
  app.add_option("--key", tls.key_file, "mutual TLS: client private key file");
  app.require_subcommand(1);

  auto* start = app.add_subcommand("start", "Start (idempotent on --id)");
  std::string command;
  std::uint32_t timeout_seconds = 0;
  std::uint64_t max_output_bytes = 0;
  bool wait_for_end = false;
  start->add_option("--id", id, "execution id")->required();
  start->add_option("--command", command, "shell command")->required();
  start->add_option("--timeout", timeout_seconds, "seconds; 0 = the agent's default");
  start->add_option("--max-output-bytes", max_output_bytes, "0 = the agent's cap");
  start->add_flag("--wait", wait_for_end, "wait until the execution has finished");
  bool resume = false;
  std::int64_t dispatched_unix_ms = 0;
  start->add_flag("--resume", resume, "a resumed Start: run an unknown id only if the agent's journal covers its dispatch");
  start->add_option("--dispatched-unix-ms", dispatched_unix_ms, "with --resume: when the execution was dispatched");

  auto* wait_command = app.add_subcommand("wait", "Wait (long-poll)");
  std::uint32_t max_wait_ms = 0;
  wait_command->add_option("--id", id, "execution id")->required();
  wait_command->add_option("--max-wait-ms", max_wait_ms, "0 = fetch now; the agent caps it at 60000");

  auto* cancel = app.add_subcommand("cancel", "Cancel");
  cancel->add_option("--id", id, "execution id")->required();

  CLI11_PARSE(app, argc, argv);
  if (!tls.insecure && tls.ca_file.empty()) {
    std::fprintf(stderr, "jarvis-agentctl: give --ca (and --cert/--key) for mutual TLS, or --insecure\n");
    return 2;
  }

  auto stub = jarvis::v1::Agent::NewStub(jarvis::test::make_agent_channel(target, tls));
  jarvis::v1::Execution execution;

  if (*start) {
    grpc::ClientContext context;
    context.set_deadline(Clock::now() + rpc_margin);
    jarvis::v1::StartRequest request;
    request.set_execution_id(id);
    request.set_command(command);
    request.set_timeout_seconds(timeout_seconds);
    request.set_max_output_bytes(max_output_bytes);
    request.set_resume(resume);
    request.set_dispatched_unix_ms(dispatched_unix_ms);
    grpc::Status status = stub->Start(&context, request, &execution);
    while (status.ok() && wait_for_end && execution.state() == jarvis::v1::STATE_RUNNING)
      status = wait(*stub, id, 60'000, execution);
    return report("Start", status, execution);
  }
  if (*wait_command) return report("Wait", wait(*stub, id, max_wait_ms, execution), execution);

  grpc::ClientContext context;
  context.set_deadline(Clock::now() + rpc_margin);
  jarvis::v1::CancelRequest request;
  request.set_execution_id(id);
  return report("Cancel", stub->Cancel(&context, request, &execution), execution);
}
