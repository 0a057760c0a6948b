// A program the test starts, with stdout and stderr captured to files, stopped when the test is done with it
// (even when the test fails).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "support/temporary_directory.hpp"

namespace jarvis::test {

// How a program ended: its exit status, or 128 + the signal that killed it.
struct ProgramExit {
  int status;
};

class ChildProgram {
 public:
  // argv[0] is the program's path. Throws when it cannot be started (a broken test setup).
  explicit ChildProgram(std::vector<std::string> argv);
  ~ChildProgram();
  ChildProgram(const ChildProgram&) = delete;
  ChildProgram& operator=(const ChildProgram&) = delete;

  pid_t pid() const { return pid_; }
  void signal(int signal_number) const;
  // Waits at most `limit`; nothing when the program is still running then.
  std::optional<ProgramExit> wait_for_exit(std::chrono::milliseconds limit);
  std::string standard_output() const;
  std::string standard_error() const;

 private:
  TemporaryDirectory directory_;
  pid_t pid_ = 0;
  std::optional<ProgramExit> exit_;
};

struct ProgramRun {
  int status;
  std::string standard_output;
  std::string standard_error;
};

// Runs a program to its end; fails the test if it takes longer than `limit`.
ProgramRun run_program(std::vector<std::string> argv, std::chrono::milliseconds limit = std::chrono::seconds(30));

}  // namespace jarvis::test
