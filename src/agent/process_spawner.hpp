// Starts `/bin/sh -c <command>` inside the host root, in a session and process group of its own.
//
// Everything the child needs is prepared before the child is made (clone with CLONE_VM | CLONE_VFORK, as
// posix_spawn does); until exec the child makes only async-signal-safe calls, so starting it from a process
// that runs gRPC threads is safe. A failure in the child
// (chroot, exec) travels back through a close-on-exec pipe, so the caller learns synchronously whether the
// shell started and why not.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "agent/unique_fd.hpp"
#include "common/result.hpp"

namespace jarvis::agent {

struct ShellLaunch {
  std::string command;
  std::string host_root;                 // "/" runs without chroot
  std::vector<std::string> environment;  // "NAME=value", the child's whole environment
};

struct SpawnedShell {
  pid_t pid = 0;     // also the id of the shell's session and process group
  UniqueFd pidfd;    // becomes readable when the shell exits
  UniqueFd output;   // non-blocking read end of the pipe the shell writes stdout and stderr to
};

// Error::message reads like "could not start: /bin/sh not found in host root /x: No such file or directory";
// Error::code is the errno.
Result<SpawnedShell> spawn_shell(const ShellLaunch& launch);

}  // namespace jarvis::agent
