#include "agent/orphan_reaper.hpp"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace jarvis::agent {

namespace {

// Children of every thread of this process: orphans are attached to whichever thread was alive.
std::vector<pid_t> children() {
  std::vector<pid_t> found;
  std::error_code ec;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task", ec)) {
    std::ifstream in(task.path() / "children");
    for (pid_t pid; in >> pid;) found.push_back(pid);
  }
  return found;
}

bool is_zombie(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(in, line)) return false;
  const auto close = line.rfind(')');
  return close != std::string::npos && close + 2 < line.size() && line[close + 2] == 'Z';
}

}  // namespace

OrphanReaper::OrphanReaper(asio::any_io_executor executor, IsSupervised is_supervised, Logger& log)
    : child_signals_(executor, SIGCHLD), is_supervised_(std::move(is_supervised)), log_(log) {}

void OrphanReaper::start() {
  if (::prctl(PR_SET_CHILD_SUBREAPER, 1) != 0)
    log_.warn("could not become the reaper of orphaned processes", {{"error", std::strerror(errno)}});
  wait_for_child_signal();
}

void OrphanReaper::stop() {
  stopped_ = true;
  boost::system::error_code ignored;
  child_signals_.cancel(ignored);
}

void OrphanReaper::wait_for_child_signal() {
  child_signals_.async_wait([this](boost::system::error_code ec, int) {
    // stop() cannot cancel a wait whose SIGCHLD was already delivered and queued: without the flag this
    // handler would sweep and wait again, and the agent's event loop would never run out of work.
    if (ec || stopped_) return;
    sweep();
    wait_for_child_signal();
  });
}

std::size_t OrphanReaper::sweep() {
  std::size_t reaped = 0;
  for (const pid_t pid : children()) {
    if (is_supervised_(pid) || !is_zombie(pid)) continue;
    int status;
    if (::waitpid(pid, &status, WNOHANG) == pid) ++reaped;
  }
  if (reaped > 0) log_.debug("reaped orphaned processes", {{"count", reaped}});
  return reaped;
}

}  // namespace jarvis::agent
