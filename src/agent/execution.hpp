// Execution: one run of one command, from spawn to its final state.
//
// One coroutine per execution reads the output pipe while another waits for the shell to exit (pidfd).
// A timeout or a cancel sends SIGTERM to the process group and SIGKILL after the grace period. When the
// shell exits, whatever it left running in its process group is killed and reading stops, so background
// jobs can neither outlive the command nor hold its result back. Not thread-safe: everything happens on the
// executor's single thread.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

#include "agent/execution_status.hpp"
#include "agent/output_buffer.hpp"
#include "common/log.hpp"

namespace jarvis::agent {

namespace asio = boost::asio;

class Execution : public std::enable_shared_from_this<Execution> {
 public:
  using FinishedHandler = std::function<void(const Execution&)>;

  // Spawns the shell now and supervises it on `executor`. When the shell cannot start, the execution comes
  // back already finished in state start_failed and `on_finished` is never called; otherwise `on_finished`
  // is called once, when the execution reaches its final state.
  static std::shared_ptr<Execution> start(asio::any_io_executor executor, ExecutionSpec spec,
                                          const ExecutionEnvironment& environment, Logger& log,
                                          FinishedHandler on_finished);

  // An execution that is already over, as the journal recorded it (a result from before an agent restart,
  // an interrupted execution, a tombstone): status() answers `final_status`, nothing runs.
  static std::shared_ptr<Execution> recorded(asio::any_io_executor executor, ExecutionStatus final_status,
                                             Logger& log);

  Execution(const Execution&) = delete;
  Execution& operator=(const Execution&) = delete;

  const std::string& id() const { return spec_.id; }
  bool finished() const { return state_ != ExecutionState::running; }
  ExecutionStatus status() const;
  // The shell's process group (= its pid); 0 when it never started.
  pid_t process_group() const { return process_group_; }
  std::chrono::steady_clock::time_point finished_at() const { return finished_at_; }

  // SIGTERM to the process group, SIGKILL after the grace period. No effect once the shell has exited.
  void cancel();

  // Resumes when the execution has finished, at `deadline`, or at release_waiters(), whichever is first.
  asio::awaitable<void> wait_finished(std::chrono::steady_clock::time_point deadline);
  // Resumes every waiter now and lets every later one return at once (the agent is shutting down).
  void release_waiters();

 private:
  enum class StopCause { none, timeout, cancel };

  Execution(asio::any_io_executor executor, ExecutionSpec spec, const ExecutionEnvironment& environment,
            Logger& log, FinishedHandler on_finished);

  void finish_without_starting(std::string reason);
  void begin_supervision();
  asio::awaitable<void> supervise(std::shared_ptr<Execution> self);
  asio::awaitable<void> read_output();
  asio::awaitable<void> reap_shell();
  void drain_output();
  void stop(StopCause cause);
  void abandon(std::exception_ptr failure);
  void finish();
  void decide_final_state();
  void wake_waiters();
  void log_start() const;
  void log_end() const;

  asio::any_io_executor executor_;
  ExecutionSpec spec_;
  ExecutionEnvironment environment_;
  Logger& log_;
  FinishedHandler on_finished_;

  OutputBuffer output_;
  pid_t process_group_ = 0;
  asio::posix::stream_descriptor pidfd_;
  asio::posix::stream_descriptor output_pipe_;
  asio::steady_timer timeout_timer_;
  asio::steady_timer grace_timer_;

  std::chrono::system_clock::time_point start_time_;
  std::chrono::steady_clock::time_point started_at_;
  std::chrono::system_clock::time_point end_time_;
  std::chrono::steady_clock::time_point finished_at_;

  ExecutionState state_ = ExecutionState::running;
  bool exited_ = false;
  int exit_code_ = 0;
  int signal_ = 0;
  std::string reason_;
  std::string internal_error_;

  StopCause stop_cause_ = StopCause::none;
  bool sent_sigkill_ = false;
  bool shell_reaped_ = false;
  bool stop_reading_ = false;

  std::vector<asio::steady_timer*> waiters_;
  bool waiters_released_ = false;

  std::optional<ExecutionStatus> recorded_status_;
};

}  // namespace jarvis::agent
