// FNV-1a: a small, stable, non-cryptographic hash for names that must stay short and distinct (event
// reasons, execution ids). Stable across builds and platforms, so the same input always gives the same name.
#pragma once

#include <cstdint>
#include <string_view>

namespace jarvis {

constexpr std::uint64_t fnv1a64(std::string_view text) {
  std::uint64_t h = 14695981039346656037ULL;
  for (const char c : text) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ULL;
  }
  return h;
}

constexpr std::uint32_t fnv1a32(std::string_view text) {
  std::uint32_t h = 2166136261U;
  for (const char c : text) {
    h ^= static_cast<unsigned char>(c);
    h *= 16777619U;
  }
  return h;
}

}  // namespace jarvis
