// OrphanReaper: collects the exit status of processes that commands left behind.
//
// When a shell exits, the agent kills what is left of its process group; those processes (and any that
// escaped the group) are orphans. The agent makes itself their reaper (PR_SET_CHILD_SUBREAPER; it is PID 1
// anyway in a container without hostPID) and collects them on SIGCHLD, so no zombie accumulates. Shells the
// agent supervises are left alone: their Execution collects them through their pidfd.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <functional>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/signal_set.hpp>

#include "common/log.hpp"

namespace jarvis::agent {

namespace asio = boost::asio;

class OrphanReaper {
 public:
  using IsSupervised = std::function<bool(pid_t)>;

  OrphanReaper(asio::any_io_executor executor, IsSupervised is_supervised, Logger& log);

  // Makes this process the reaper of its descendants' orphans and sweeps on every SIGCHLD until stop(); after
  // stop() it leaves no work on its executor, even with a SIGCHLD already delivered.
  void start();
  void stop();

  // Reaps every exited child that is not supervised; returns how many.
  std::size_t sweep();

 private:
  void wait_for_child_signal();

  asio::signal_set child_signals_;
  bool stopped_ = false;
  IsSupervised is_supervised_;
  Logger& log_;
};

}  // namespace jarvis::agent
