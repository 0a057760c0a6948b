// Translation between the wire messages (proto/jarvis.proto) and the agent's own execution types.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>

#include "agent/execution_status.hpp"
#include "common/limits.hpp"
#include "jarvis.pb.h"

namespace jarvis::agent {

// What the agent uses where a request leaves a field at 0.
struct RequestDefaults {
  std::chrono::seconds timeout{limits::default_timeout_seconds};
  std::size_t max_output_bytes = 1 << 20;  // also the most a request may ask for
};

// Times on the wire and in the journal: milliseconds since the Unix epoch.
std::int64_t unix_ms(std::chrono::system_clock::time_point t);
std::chrono::system_clock::time_point from_unix_ms(std::int64_t ms);

// Expects a request that passed start_request_problem().
ExecutionSpec to_spec(const v1::StartRequest& request, const RequestDefaults& defaults);

void to_proto(const ExecutionStatus& status, v1::Execution& out);
// The inverse of to_proto, for results read back from the journal (an unknown state reads as running).
ExecutionStatus from_proto(const v1::Execution& execution);

}  // namespace jarvis::agent
