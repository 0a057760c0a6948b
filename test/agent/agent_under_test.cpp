#include "agent_under_test.hpp"

#include <cstdlib>
#include <fstream>
#include <sstream>

#include <catch2/catch.hpp>
#include <grpcpp/client_context.h>

#include "support/client_credentials.hpp"
#include "support/run_until.hpp"

using namespace std::chrono_literals;

namespace jarvis::test {

std::string program_path(const char* variable) {
  const char* path = std::getenv(variable);
  if (path == nullptr) FAIL(variable << " is not set; run this test through `meson test`");
  return path;
}

std::vector<rapidjson::Document> json_lines(const std::string& text) {
  std::vector<rapidjson::Document> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    rapidjson::Document doc;
    doc.Parse(line.c_str());
    if (!doc.HasParseError() && doc.IsObject()) lines.push_back(std::move(doc));
  }
  return lines;
}

bool has_message(const rapidjson::Document& line, const char* message) {
  return line.HasMember("msg") && line["msg"].IsString() && std::string(line["msg"].GetString()) == message;
}

int count_lines(const std::filesystem::path& file) {
  std::ifstream in(file);
  int lines = 0;
  for (std::string line; std::getline(in, line);) ++lines;
  return lines;
}

namespace {

std::filesystem::path chosen_state_dir(std::optional<TemporaryDirectory>& own,
                                       const std::optional<std::filesystem::path>& given) {
  if (given) return *given;
  own.emplace();
  return own->path();
}

}  // namespace

AgentUnderTest::AgentUnderTest(const std::vector<std::string>& extra_flags,
                               std::optional<std::filesystem::path> state_dir)
    : program_(arguments(extra_flags, chosen_state_dir(own_state_dir_, state_dir))) {
  const bool listening = eventually(
      [&] {
        port_ = listening_port();
        return port_ != 0 || program_.wait_for_exit(0ms).has_value();
      },
      30s);
  INFO("agent stdout:\n" << program_.standard_output() << "\nagent stderr:\n" << program_.standard_error());
  REQUIRE(listening);
  REQUIRE(port_ != 0);
  stub_ = v1::Agent::NewStub(make_agent_channel(target()));
}

Reply AgentUnderTest::start(const std::string& id, const std::string& command, std::uint32_t timeout_seconds,
                            std::uint64_t max_output_bytes) {
  v1::StartRequest request;
  request.set_execution_id(id);
  request.set_command(command);
  request.set_timeout_seconds(timeout_seconds);
  request.set_max_output_bytes(max_output_bytes);
  return start(request);
}

Reply AgentUnderTest::start(const v1::StartRequest& request) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + 10s);
  Reply reply;
  reply.status = stub_->Start(&context, request, &reply.execution);
  return reply;
}

Reply AgentUnderTest::resume(const std::string& id, const std::string& command, std::int64_t dispatched_unix_ms) {
  v1::StartRequest request;
  request.set_execution_id(id);
  request.set_command(command);
  request.set_resume(true);
  request.set_dispatched_unix_ms(dispatched_unix_ms);
  return start(request);
}

Reply AgentUnderTest::wait(const std::string& id, std::uint32_t max_wait_ms) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(max_wait_ms) + 10s);
  v1::WaitRequest request;
  request.set_execution_id(id);
  request.set_max_wait_ms(max_wait_ms);
  Reply reply;
  reply.status = stub_->Wait(&context, request, &reply.execution);
  return reply;
}

Reply AgentUnderTest::cancel(const std::string& id) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + 10s);
  v1::CancelRequest request;
  request.set_execution_id(id);
  Reply reply;
  reply.status = stub_->Cancel(&context, request, &reply.execution);
  return reply;
}

Reply AgentUnderTest::wait_until_finished(const std::string& id, std::chrono::seconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  Reply reply;
  do {
    reply = wait(id, 5000);
  } while (reply.status.ok() && reply.execution.state() == v1::STATE_RUNNING &&
           std::chrono::steady_clock::now() < deadline);
  return reply;
}

std::vector<std::string> AgentUnderTest::arguments(const std::vector<std::string>& extra_flags,
                                                   const std::filesystem::path& state_dir) {
  // Plaintext, asked for explicitly: these suites are about processes; mutual TLS is tested with the
  // controller's client (test/controller/agent_client_process_test.cpp) and in test/e2e/test_security.py.
  std::vector<std::string> argv = {program_path("JARVIS_BIN"), "--role=agent", "--listen=127.0.0.1:0",
                                   "--host-root=/", "--node-name=test-node", "--insecure",
                                   "--state-dir=" + state_dir.string(),
                                   "--health-probe-bind-address=127.0.0.1:0"};
  argv.insert(argv.end(), extra_flags.begin(), extra_flags.end());
  return argv;
}

int AgentUnderTest::listening_port() const {
  for (const auto& line : json_lines(program_.standard_output()))
    if (has_message(line, "agent listening") && line.HasMember("port") && line["port"].IsInt())
      return line["port"].GetInt();
  return 0;
}

}  // namespace jarvis::test
