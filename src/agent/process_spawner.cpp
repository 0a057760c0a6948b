#include "agent/process_spawner.hpp"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>

namespace jarvis::agent {

namespace {

// What the child reports through the error pipe when a step before exec fails.
enum class ChildStep : int { reset_signals, new_session, redirect, chroot, chdir, exec };

struct ChildFailure {
  ChildStep step;
  int error;
};

// Everything the child uses, built before the child is made, so the child never allocates.
struct ChildPlan {
  const char* host_root;  // nullptr: no chroot
  int stdin_fd;
  int output_fd;
  int error_report_fd;
  int descriptor_limit;
  const char* const* argv;
  const char* const* envp;
};

// The child runs on a stack AddressSanitizer does not know (see spawn_shell), where its checks before a
// call that does not return report false overflows: the child's three functions are not instrumented.
[[gnu::no_sanitize_address]] void report_and_exit(int error_report_fd, ChildStep step) {
  const ChildFailure failure{step, errno};
  [[maybe_unused]] const auto written = ::write(error_report_fd, &failure, sizeof failure);
  ::_exit(127);
}

// Runs in the child, which shares the agent's memory until execve (see spawn_shell): only async-signal-safe
// calls from here to execve, nothing allocated, nothing written but its own stack and errno.
[[noreturn]] [[gnu::no_sanitize_address]] void become_shell(const ChildPlan& plan) {
  // The agent's signal handlers and ignored signals (gRPC ignores SIGPIPE) must not reach the command.
  struct sigaction default_action {};
  default_action.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) ::sigaction(sig, &default_action, nullptr);
  sigset_t none;
  sigemptyset(&none);
  if (::sigprocmask(SIG_SETMASK, &none, nullptr) != 0) report_and_exit(plan.error_report_fd, ChildStep::reset_signals);

  if (::setsid() < 0) report_and_exit(plan.error_report_fd, ChildStep::new_session);

  // Move every descriptor we keep above 2 first, so none of them is clobbered by the dup2 calls below.
  const int stdin_fd = ::fcntl(plan.stdin_fd, F_DUPFD_CLOEXEC, 3);
  const int output_fd = ::fcntl(plan.output_fd, F_DUPFD_CLOEXEC, 3);
  const int report_fd = ::fcntl(plan.error_report_fd, F_DUPFD_CLOEXEC, 3);
  if (stdin_fd < 0 || output_fd < 0 || report_fd < 0) report_and_exit(plan.error_report_fd, ChildStep::redirect);
  // One pipe behind both stdout and stderr keeps their bytes in the order they were written.
  if (::dup2(stdin_fd, 0) < 0 || ::dup2(output_fd, 1) < 0 || ::dup2(output_fd, 2) < 0)
    report_and_exit(report_fd, ChildStep::redirect);
  if (::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
    // Kernels before 5.11 lack CLOSE_RANGE_CLOEXEC: mark the descriptors one by one.
    for (int fd = 3; fd < plan.descriptor_limit; ++fd) ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  }

  if (plan.host_root != nullptr && ::chroot(plan.host_root) != 0) report_and_exit(report_fd, ChildStep::chroot);
  if (::chdir("/") != 0) report_and_exit(report_fd, ChildStep::chdir);

  ::execve("/bin/sh", const_cast<char* const*>(plan.argv), const_cast<char* const*>(plan.envp));
  report_and_exit(report_fd, ChildStep::exec);
  ::_exit(127);
}

std::string describe_failure(const ChildFailure& failure, const std::string& host_root) {
  const std::string reason = std::strerror(failure.error);
  const std::string where = "host root " + host_root;
  switch (failure.step) {
    case ChildStep::exec:
      if (failure.error == ENOENT)
        return "could not start: /bin/sh (or the loader it needs) not found in " + where + ": " + reason;
      return "could not start: could not execute /bin/sh in " + where + ": " + reason;
    case ChildStep::chroot: return "could not start: could not change root to " + where + ": " + reason;
    case ChildStep::chdir: return "could not start: could not enter / of " + where + ": " + reason;
    case ChildStep::reset_signals: return "could not start: could not reset signals: " + reason;
    case ChildStep::new_session: return "could not start: could not create a session: " + reason;
    case ChildStep::redirect: return "could not start: could not redirect stdin/stdout/stderr: " + reason;
  }
  return "could not start: " + reason;
}

int descriptor_limit() {
  constexpr long most = 1 << 16;
  const long limit = ::sysconf(_SC_OPEN_MAX);
  return static_cast<int>(limit > 0 && limit < most ? limit : most);
}

[[gnu::no_sanitize_address]] int child_main(void* plan) { become_shell(*static_cast<const ChildPlan*>(plan)); }

// The child's own stack: it runs in the agent's memory until it execs, while the agent's thread waits.
constexpr std::size_t child_stack_bytes = 64 * 1024;

Error system_error(const std::string& what) {
  const int error = errno;
  return Error{"could not start: " + what + ": " + std::strerror(error), error};
}

}  // namespace

Result<SpawnedShell> spawn_shell(const ShellLaunch& launch) {
  int output_pipe[2];
  if (::pipe2(output_pipe, O_CLOEXEC) != 0) return system_error("could not create the output pipe");
  UniqueFd output_read(output_pipe[0]);
  UniqueFd output_write(output_pipe[1]);
  // Only the agent's end is non-blocking: the command must see an ordinary blocking stdout.
  if (::fcntl(output_read.get(), F_SETFL, O_NONBLOCK) != 0) return system_error("could not configure the output pipe");

  int report_pipe[2];
  if (::pipe2(report_pipe, O_CLOEXEC) != 0) return system_error("could not create the error-report pipe");
  UniqueFd report_read(report_pipe[0]);
  UniqueFd report_write(report_pipe[1]);

  UniqueFd dev_null(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (!dev_null) return system_error("could not open /dev/null");

  const char* const argv[] = {"sh", "-c", launch.command.c_str(), nullptr};
  std::vector<const char*> envp;
  envp.reserve(launch.environment.size() + 1);
  for (const auto& entry : launch.environment) envp.push_back(entry.c_str());
  envp.push_back(nullptr);

  const ChildPlan plan{
      .host_root = launch.host_root == "/" ? nullptr : launch.host_root.c_str(),
      .stdin_fd = dev_null.get(),
      .output_fd = output_write.get(),
      .error_report_fd = report_write.get(),
      .descriptor_limit = descriptor_limit(),
      .argv = argv,
      .envp = envp.data(),
  };

  // clone(CLONE_VM | CLONE_VFORK), as posix_spawn does (it cannot chroot): the child borrows the agent's
  // memory instead of a copy of it, and this thread waits until the child has exec'd or exited. fork() copied
  // the page tables of the whole agent (gRPC's threads and libraries) and made every page copy-on-write, only
  // for exec to throw the copy away: about a third of an agent's CPU per command (README, "Fleet speed"). Signals
  // stay blocked until the child has reset every handler, so none of the agent's runs in the child.
  void* stack = ::mmap(nullptr, child_stack_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK,
                       -1, 0);
  if (stack == MAP_FAILED) return system_error("could not map a stack for the child");
  sigset_t all;
  sigset_t previous;
  ::sigfillset(&all);
  ::pthread_sigmask(SIG_BLOCK, &all, &previous);
  const pid_t pid = ::clone(child_main, static_cast<char*>(stack) + child_stack_bytes,
                            CLONE_VM | CLONE_VFORK | SIGCHLD, const_cast<ChildPlan*>(&plan));
  const int clone_error = errno;
  ::pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  ::munmap(stack, child_stack_bytes);
  if (pid < 0) {
    errno = clone_error;
    return system_error("could not create the child process");
  }

  output_write.reset();
  report_write.reset();
  dev_null.reset();

  ChildFailure failure{};
  ssize_t got;
  do {
    got = ::read(report_read.get(), &failure, sizeof failure);
  } while (got < 0 && errno == EINTR);
  if (got == static_cast<ssize_t>(sizeof failure)) {
    int ignored_status;
    while (::waitpid(pid, &ignored_status, 0) < 0 && errno == EINTR) {
    }
    return Error{describe_failure(failure, launch.host_root), failure.error};
  }

  // glibc 2.36 declares pidfd_open without C linkage for C++; the system call itself is stable.
  UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  if (!pidfd) {
    Error error = system_error("could not watch the shell process (pidfd_open needs Linux 5.3 or later)");
    ::kill(-pid, SIGKILL);
    int ignored_status;
    while (::waitpid(pid, &ignored_status, 0) < 0 && errno == EINTR) {
    }
    return error;
  }
  return SpawnedShell{pid, std::move(pidfd), std::move(output_read)};
}

}  // namespace jarvis::agent
