// The environment every command runs with. It is fixed and small on purpose: nothing of the agent's own
// environment (service-account paths, pod variables) leaks into commands run on the node.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace jarvis::agent {

// PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin, HOME=/root, LANG=C.UTF-8 and
// JARVIS_EXECUTION_ID=<execution_id>, as "NAME=value" strings.
std::vector<std::string> child_environment(std::string_view execution_id);

}  // namespace jarvis::agent
