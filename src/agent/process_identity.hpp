// ProcessIdentity: one process, told apart from a later process that reused its pid.
//
// A restarted agent uses it to kill what is left of a command that was running when the agent stopped,
// without ever signalling an unrelated process: the pid must still name a process that started at the same
// clock tick (field 22 of /proc/PID/stat) of the same boot (/proc/sys/kernel/random/boot_id).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>

namespace jarvis::agent {

struct ProcessIdentity {
  pid_t pid = 0;
  std::uint64_t start_ticks = 0;
  std::string boot_id;
};

// Nothing when the process is gone or /proc cannot be read.
std::optional<ProcessIdentity> identify_process(pid_t pid);

// SIGKILL to the process group led by `leader` (each command's shell leads its own group) when the leader is
// still that very process; whether the signal was sent.
bool kill_group_if_still_running(const ProcessIdentity& leader);

}  // namespace jarvis::agent
