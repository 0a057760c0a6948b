#include "controller/execution_id.hpp"

#include <cstdio>

#include "common/hash.hpp"
#include "common/limits.hpp"

namespace jarvis::controller {

std::string execution_id(std::string_view uid, std::int64_t generation, std::string_view node) {
  constexpr std::size_t max_len = limits::max_execution_id_length;
  std::string id = std::string(uid) + ".g" + std::to_string(generation) + ".";
  if (id.size() + node.size() <= max_len) return id + std::string(node);
  char hash[17];
  std::snprintf(hash, sizeof hash, "%016llx", static_cast<unsigned long long>(fnv1a64(node)));
  const std::size_t keep = max_len > id.size() + 17 ? max_len - id.size() - 17 : 0;
  return id + std::string(node.substr(0, keep)) + "-" + hash;
}

}  // namespace jarvis::controller
