#include "agent/start_request_validation.hpp"

#include <algorithm>

namespace jarvis::agent {

namespace {

bool allowed_in_execution_id(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
         c == ':' || c == '-';
}

}  // namespace

std::optional<std::string> execution_id_problem(std::string_view execution_id) {
  if (execution_id.empty()) return "execution_id is empty; it must be 1 to 253 characters from [A-Za-z0-9._:-]";
  if (execution_id.size() > max_execution_id_length || !std::all_of(execution_id.begin(), execution_id.end(), allowed_in_execution_id))
    return "execution_id is invalid; it must be 1 to 253 characters from [A-Za-z0-9._:-]";
  return std::nullopt;
}

std::optional<std::string> start_request_problem(const v1::StartRequest& request) {
  if (auto problem = execution_id_problem(request.execution_id())) return problem;
  if (request.command().empty()) return std::string("command is empty");
  if (request.command().size() > max_command_bytes)
    return "command is " + std::to_string(request.command().size()) + " bytes; the most accepted is " +
           std::to_string(max_command_bytes);
  if (request.timeout_seconds() > max_timeout_seconds)
    return "timeout_seconds is " + std::to_string(request.timeout_seconds()) + "; the most accepted is " +
           std::to_string(max_timeout_seconds) + " (0 means the agent's --default-timeout)";
  if (request.resume() && request.dispatched_unix_ms() <= 0)
    return "dispatched_unix_ms is " + std::to_string(request.dispatched_unix_ms()) +
           "; a resumed Start (resume = true) must say when the controller dispatched it (ms since the Unix epoch)";
  return std::nullopt;
}

}  // namespace jarvis::agent
