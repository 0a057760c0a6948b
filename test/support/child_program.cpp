#include "support/child_program.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <stdexcept>

#include "support/run_until.hpp"

extern char** environ;

namespace jarvis::test {

namespace {

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

}  // namespace

ChildProgram::ChildProgram(std::vector<std::string> argv) {
  const std::string out = (directory_.path() / "stdout").string();
  const std::string err = (directory_.path() / "stderr").string();
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_addopen(&actions, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  std::vector<char*> args;
  for (auto& arg : argv) args.push_back(arg.data());
  args.push_back(nullptr);
  const int rc = ::posix_spawn(&pid_, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) throw std::runtime_error("cannot start " + argv[0] + ": " + std::strerror(rc));
}

ChildProgram::~ChildProgram() {
  if (exit_) return;
  ::kill(pid_, SIGKILL);
  int status;
  ::waitpid(pid_, &status, 0);
}

void ChildProgram::signal(int signal_number) const {
  if (!exit_) ::kill(pid_, signal_number);
}

std::optional<ProgramExit> ChildProgram::wait_for_exit(std::chrono::milliseconds limit) {
  eventually(
      [&] {
        int status;
        if (exit_ || ::waitpid(pid_, &status, WNOHANG) != pid_) return exit_.has_value();
        exit_ = ProgramExit{WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status)};
        return true;
      },
      limit);
  return exit_;
}

std::string ChildProgram::standard_output() const { return read_file(directory_.path() / "stdout"); }
std::string ChildProgram::standard_error() const { return read_file(directory_.path() / "stderr"); }

ProgramRun run_program(std::vector<std::string> argv, std::chrono::milliseconds limit) {
  ChildProgram program(std::move(argv));
  const auto exit = program.wait_for_exit(limit);
  if (!exit) throw std::runtime_error("program did not finish in time");
  return ProgramRun{exit->status, program.standard_output(), program.standard_error()};
}

}  // namespace jarvis::test
