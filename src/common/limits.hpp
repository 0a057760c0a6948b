// Defaults and limits shared by the controller, the agent and the CRD (manifests/command_crd.yaml). Named
// once here; test/unit/crd_limits_test.cpp checks that the CRD's schema says the same.
#pragma once

#include <cstddef>
#include <cstdint>

namespace jarvis::limits {

// spec.timeoutSeconds when absent (the CRD defaults it too), and the agent's default for a Start without one.
inline constexpr std::uint32_t default_timeout_seconds = 300;
// The longest run a Command may ask for (CRD maximum; the agent refuses longer).
inline constexpr std::uint32_t max_timeout_seconds = 86400;
// The longest command text (CRD maxLength; the agent refuses longer).
inline constexpr std::size_t max_command_bytes = 64 * 1024;
// Execution ids are [A-Za-z0-9._:-]{1,253} (proto/jarvis.proto).
inline constexpr std::size_t max_execution_id_length = 253;

}  // namespace jarvis::limits
