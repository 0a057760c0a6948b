// Checks of what the controller sends, before anything runs. Each returns why a request is refused, in one
// line naming the field, or nothing when the request is acceptable.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "jarvis.pb.h"

namespace jarvis::agent {

inline constexpr std::size_t max_command_bytes = 64 * 1024;
inline constexpr std::size_t max_execution_id_length = 253;
inline constexpr std::uint32_t max_timeout_seconds = 86400;

std::optional<std::string> execution_id_problem(std::string_view execution_id);
std::optional<std::string> start_request_problem(const v1::StartRequest& request);

}  // namespace jarvis::agent
