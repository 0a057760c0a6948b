// The test process's own resident memory, from /proc/self/status.
#pragma once

#include <cstdint>

namespace jarvis::agent::test {

// VmRSS in bytes; 0 if /proc cannot be read.
std::uint64_t resident_bytes();

}  // namespace jarvis::agent::test
