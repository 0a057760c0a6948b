// A real `jarvis --role=agent` process on a loopback port (plaintext), and a gRPC client of it. The paths of
// the programs come from the environment (JARVIS_BIN, JARVIS_AGENTCTL), set by `meson test`.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <grpcpp/support/status.h>
#include <rapidjson/document.h>

#include "support/child_program.hpp"
#include "jarvis.grpc.pb.h"
#include "support/temporary_directory.hpp"

namespace jarvis::test {

std::string program_path(const char* variable);
std::vector<rapidjson::Document> json_lines(const std::string& text);
bool has_message(const rapidjson::Document& line, const char* message);
int count_lines(const std::filesystem::path& file);

struct Reply {
  grpc::Status status;
  v1::Execution execution;
};

class AgentUnderTest {
 public:
  // The agent keeps its journal in `state_dir` when given (so that a later agent can find it), else in a
  // temporary directory of its own.
  explicit AgentUnderTest(const std::vector<std::string>& extra_flags = {},
                          std::optional<std::filesystem::path> state_dir = std::nullopt);

  std::string target() const { return "127.0.0.1:" + std::to_string(port_); }
  ChildProgram& program() { return program_; }

  Reply start(const std::string& id, const std::string& command, std::uint32_t timeout_seconds = 0,
              std::uint64_t max_output_bytes = 0);
  Reply start(const v1::StartRequest& request);
  // A resumed Start (resume = true) dispatched at `dispatched_unix_ms`.
  Reply resume(const std::string& id, const std::string& command, std::int64_t dispatched_unix_ms);
  Reply wait(const std::string& id, std::uint32_t max_wait_ms);
  Reply cancel(const std::string& id);
  Reply wait_until_finished(const std::string& id, std::chrono::seconds limit = std::chrono::seconds(60));

 private:
  static std::vector<std::string> arguments(const std::vector<std::string>& extra_flags,
                                            const std::filesystem::path& state_dir);
  int listening_port() const;

  std::optional<TemporaryDirectory> own_state_dir_;
  ChildProgram program_;
  int port_ = 0;
  std::unique_ptr<v1::Agent::Stub> stub_;
};

}  // namespace jarvis::test
