// The execution id the controller gives an agent for one (Command uid, generation, node). Deterministic, so
// the same run always has the same id: the agent's idempotent Start and a restarted controller's Wait both
// rely on it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace jarvis::controller {

// "<uid>.g<generation>.<node>"; when longer than the agent accepts (253 bytes), the node part is shortened
// and a hash of the full name appended, so distinct nodes keep distinct ids.
std::string execution_id(std::string_view uid, std::int64_t generation, std::string_view node);

}  // namespace jarvis::controller
