// Looks through /proc for processes that are still alive (zombies do not count: they have already died and
// only wait for their parent to collect them).
#pragma once

#include <sys/types.h>

#include <string_view>
#include <vector>

namespace jarvis::test {

// Live processes whose process group is `process_group`.
std::vector<pid_t> live_processes_in_group(pid_t process_group);
// The parent of a process, or 0 when it does not exist (any more).
pid_t parent_of(pid_t pid);
// Children of `parent` that have exited but were not collected.
std::vector<pid_t> zombie_children_of(pid_t parent);
// Live processes whose environment holds exactly `entry` ("NAME=value").
std::vector<pid_t> live_processes_with_environment(std::string_view entry);

}  // namespace jarvis::test
