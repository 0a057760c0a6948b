// How much memory the test process holds, for bounds such as "gigabytes of output keep the agent's memory flat".
//
// A plain build measures resident memory (VmRSS): all the process keeps, whatever keeps it. Under AddressSanitizer
// resident memory would measure the sanitizer, not the code under test: a freed block is not reused at once but
// waits in the allocator's quarantine (256 MiB by default), so any loop that allocates and frees grows the resident
// set by tens of MiB with nothing held. There the bytes allocated and not yet freed are measured instead (the
// sanitizer allocator's own count): what a buffer that grows without bound would grow.
#pragma once

#include <cstdint>
#include <string_view>

namespace jarvis::test {

// What memory_in_use() measures in this build, to print beside a bound.
std::string_view memory_measure();

// Bytes in use now by that measure; 0 if it cannot be read. Allocates nothing, so sampling it every few
// milliseconds does not move what it measures.
std::uint64_t memory_in_use();

}  // namespace jarvis::test
