// Checks of what the controller sends, before anything runs. Each returns why a request is refused, in one
// line naming the field, or nothing when the request is acceptable.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/limits.hpp"
#include "jarvis.pb.h"

namespace jarvis::agent {

using limits::max_command_bytes;
using limits::max_execution_id_length;
using limits::max_timeout_seconds;

std::optional<std::string> execution_id_problem(std::string_view execution_id);
std::optional<std::string> start_request_problem(const v1::StartRequest& request);

}  // namespace jarvis::agent
