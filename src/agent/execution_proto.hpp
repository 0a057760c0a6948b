// Translation between the wire messages (proto/jarvis.proto) and the agent's own execution types.
#pragma once

#include <chrono>
#include <cstddef>

#include "agent/execution_status.hpp"
#include "common/limits.hpp"
#include "jarvis.pb.h"

namespace jarvis::agent {

// What the agent uses where a request leaves a field at 0.
struct RequestDefaults {
  std::chrono::seconds timeout{limits::default_timeout_seconds};
  std::size_t max_output_bytes = 1 << 20;  // also the most a request may ask for
};

// Expects a request that passed start_request_problem().
ExecutionSpec to_spec(const v1::StartRequest& request, const RequestDefaults& defaults);

void to_proto(const ExecutionStatus& status, v1::Execution& out);

}  // namespace jarvis::agent
