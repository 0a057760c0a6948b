#include "agent/child_environment.hpp"

namespace jarvis::agent {

std::vector<std::string> child_environment(std::string_view execution_id) {
  return {
      "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
      "HOME=/root",
      "LANG=C.UTF-8",
      "JARVIS_EXECUTION_ID=" + std::string(execution_id),
  };
}

}  // namespace jarvis::agent
