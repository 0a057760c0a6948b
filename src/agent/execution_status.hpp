// What an execution is asked to do and what became of it, independent of the wire format.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/limits.hpp"

namespace jarvis::agent {

// Who asked for an execution: logged for the audit trail, never interpreted.
struct ExecutionOrigin {
  std::string namespace_name;
  std::string name;
  std::string uid;
  std::int64_t generation = 0;
};

struct ExecutionSpec {
  std::string id;
  std::string command;
  std::chrono::seconds timeout{limits::default_timeout_seconds};
  std::size_t max_output_bytes = 1 << 20;
  ExecutionOrigin origin;
  std::string requested_by;  // audit: the caller's certificate name and address, as the agent saw them
};

// Settings shared by every execution of one agent.
struct ExecutionEnvironment {
  std::string host_root = "/";
  std::string node_name;
  std::chrono::milliseconds kill_grace_period{5000};
};

// interrupted: the agent stopped while the execution ran (found so at the next agent start); it may have run
// partly and is never started again.
enum class ExecutionState { running, succeeded, failed, timed_out, canceled, start_failed, interrupted };

std::string_view to_string(ExecutionState state);

struct ExecutionStatus {
  std::string execution_id;
  std::string node_name;
  std::string command;
  ExecutionState state = ExecutionState::running;
  bool exited = false;  // exit_code is valid
  int exit_code = 0;
  int signal = 0;       // the terminating signal, 0 when the shell exited
  std::string output;   // see OutputBuffer for what is kept of a long output
  std::uint64_t output_bytes_total = 0;
  bool truncated = false;
  std::chrono::system_clock::time_point start_time;
  std::optional<std::chrono::system_clock::time_point> end_time;  // empty while running
  std::string reason;
};

}  // namespace jarvis::agent

