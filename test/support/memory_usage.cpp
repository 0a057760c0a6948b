#include "support/memory_usage.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstddef>
#include <cstdlib>
#include <cstring>

#if defined(__SANITIZE_ADDRESS__)  // GCC
#define JARVIS_TEST_ADDRESS_SANITIZER 1
#elif defined(__has_feature)  // Clang
#if __has_feature(address_sanitizer)
#define JARVIS_TEST_ADDRESS_SANITIZER 1
#endif
#endif

#ifdef JARVIS_TEST_ADDRESS_SANITIZER
#if __has_include(<sanitizer/allocator_interface.h>)
#include <sanitizer/allocator_interface.h>
#else
// GCC does not ship this header of the sanitizer interface; its libasan exports the function all the same.
extern "C" std::size_t __sanitizer_get_current_allocated_bytes();
#endif
#endif

namespace jarvis::test {

#ifdef JARVIS_TEST_ADDRESS_SANITIZER

std::string_view memory_measure() {
  return "heap bytes allocated and not freed (AddressSanitizer build: resident memory would count the "
         "allocator's quarantine)";
}

std::uint64_t memory_in_use() { return __sanitizer_get_current_allocated_bytes(); }

#else

std::string_view memory_measure() { return "resident memory (VmRSS)"; }

// Reads into a stack buffer: no heap churn while sampling.
std::uint64_t memory_in_use() {
  const int fd = ::open("/proc/self/status", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char text[8192];
  const ssize_t n = ::read(fd, text, sizeof text - 1);
  ::close(fd);
  if (n <= 0) return 0;
  text[n] = '\0';
  const char* line = std::strstr(text, "\nVmRSS:");
  if (line == nullptr) return 0;
  return std::strtoull(line + std::strlen("\nVmRSS:"), nullptr, 10) * 1024;
}

#endif

}  // namespace jarvis::test
