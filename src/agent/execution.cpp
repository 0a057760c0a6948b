#include "agent/execution.hpp"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>

#include "agent/child_environment.hpp"
#include "agent/process_spawner.hpp"
#include "common/coro.hpp"

namespace jarvis::agent {

namespace {

constexpr std::size_t read_chunk_bytes = 64 * 1024;
// After the shell exits, at most this much is read from what is left in the pipe; the pipe holds less than
// this (Linux's pipe-max-size default), so only a writer that escaped the process group can hit the bound.
constexpr std::size_t drain_limit_bytes = 1 << 20;

std::int64_t unix_ms(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

std::string describe(std::chrono::milliseconds d) {
  if (d.count() % 1000 == 0) return std::to_string(d.count() / 1000) + " s";
  return std::to_string(d.count()) + " ms";
}

std::string signal_name(int sig) {
  const char* abbrev = ::sigabbrev_np(sig);
  return abbrev != nullptr ? std::string("SIG") + abbrev : "signal " + std::to_string(sig);
}

// Resumes its waiter when the execution finishes: the execution cancels the registered timer.
class WaiterRegistration {
 public:
  WaiterRegistration(std::vector<asio::steady_timer*>& waiters, asio::steady_timer& timer)
      : waiters_(waiters), timer_(timer) {
    waiters_.push_back(&timer_);
  }
  ~WaiterRegistration() { std::erase(waiters_, &timer_); }
  WaiterRegistration(const WaiterRegistration&) = delete;
  WaiterRegistration& operator=(const WaiterRegistration&) = delete;

 private:
  std::vector<asio::steady_timer*>& waiters_;
  asio::steady_timer& timer_;
};

}  // namespace

Execution::Execution(asio::any_io_executor executor, ExecutionSpec spec, const ExecutionEnvironment& environment,
                     Logger& log, FinishedHandler on_finished)
    : executor_(executor),
      spec_(std::move(spec)),
      environment_(environment),
      log_(log),
      on_finished_(std::move(on_finished)),
      output_(spec_.max_output_bytes),
      pidfd_(executor),
      output_pipe_(executor),
      timeout_timer_(executor),
      grace_timer_(executor),
      start_time_(std::chrono::system_clock::now()),
      started_at_(std::chrono::steady_clock::now()) {}

std::shared_ptr<Execution> Execution::start(asio::any_io_executor executor, ExecutionSpec spec,
                                            const ExecutionEnvironment& environment, Logger& log,
                                            FinishedHandler on_finished) {
  std::shared_ptr<Execution> execution(
      new Execution(executor, std::move(spec), environment, log, std::move(on_finished)));
  auto spawned = spawn_shell(ShellLaunch{
      .command = execution->spec_.command,
      .host_root = environment.host_root,
      .environment = child_environment(execution->spec_.id),
  });
  if (!spawned) {
    execution->finish_without_starting(spawned.error().message);
    return execution;
  }
  execution->process_group_ = spawned->pid;
  execution->pidfd_.assign(spawned->pidfd.release());
  execution->output_pipe_.assign(spawned->output.release());
  execution->log_start();
  execution->begin_supervision();
  return execution;
}

std::shared_ptr<Execution> Execution::recorded(asio::any_io_executor executor, ExecutionStatus final_status,
                                               Logger& log) {
  ExecutionSpec spec;
  spec.id = final_status.execution_id;
  spec.command = final_status.command;
  std::shared_ptr<Execution> execution(
      new Execution(executor, std::move(spec), ExecutionEnvironment{.node_name = final_status.node_name}, log, {}));
  const auto now = std::chrono::system_clock::now();
  execution->start_time_ = final_status.start_time;
  execution->end_time_ = final_status.end_time.value_or(now);
  execution->finished_at_ = std::chrono::steady_clock::now() - std::max(now - execution->end_time_,
                                                                       std::chrono::system_clock::duration::zero());
  execution->state_ = final_status.state == ExecutionState::running ? ExecutionState::interrupted : final_status.state;
  execution->recorded_status_ = std::move(final_status);
  return execution;
}

void Execution::finish_without_starting(std::string reason) {
  end_time_ = std::chrono::system_clock::now();
  finished_at_ = std::chrono::steady_clock::now();
  state_ = ExecutionState::start_failed;
  reason_ = std::move(reason);
  log_.warn("execution could not start",
            {{"execution_id", spec_.id},
             {"command", spec_.command},
             {"node", environment_.node_name},
             {"origin_namespace", spec_.origin.namespace_name},
             {"origin_name", spec_.origin.name},
             {"origin_uid", spec_.origin.uid},
             {"origin_generation", spec_.origin.generation},
             {"requested_by", spec_.requested_by},
             {"reason", reason_}});
}

void Execution::begin_supervision() {
  timeout_timer_.expires_after(spec_.timeout);
  timeout_timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (!ec) self->stop(StopCause::timeout);
  });
  asio::co_spawn(executor_, supervise(shared_from_this()), [self = shared_from_this()](std::exception_ptr failure) {
    if (failure) self->abandon(failure);
  });
}

asio::awaitable<void> Execution::supervise(std::shared_ptr<Execution>) {
  auto executor = co_await asio::this_coro::executor;
  auto [order, read_failure, reap_failure] =
      co_await asio::experimental::make_parallel_group(asio::co_spawn(executor, read_output(), asio::deferred),
                                                       asio::co_spawn(executor, reap_shell(), asio::deferred))
          .async_wait(asio::experimental::wait_for_all(), asio::use_awaitable);
  if (read_failure) std::rethrow_exception(read_failure);
  if (reap_failure) std::rethrow_exception(reap_failure);
  drain_output();
  finish();
}

asio::awaitable<void> Execution::read_output() {
  std::vector<char> chunk(read_chunk_bytes);
  for (;;) {
    auto [ec, n] = co_await output_pipe_.async_read_some(asio::buffer(chunk), asio::as_tuple(asio::use_awaitable));
    output_.append({chunk.data(), n});
    // End of file, the cancel from reap_shell(), or a pipe error: either way there is nothing more to read.
    if (ec || stop_reading_) co_return;
  }
}

asio::awaitable<void> Execution::reap_shell() {
  auto [ec] = co_await pidfd_.async_wait(asio::posix::descriptor_base::wait_read,
                                         asio::as_tuple(asio::use_awaitable));
  if (ec) throw boost::system::system_error(ec, "waiting for the shell to exit");
  // The shell is a zombie until waitid below reaps it, so its process group id cannot have been reused.
  ::kill(-process_group_, SIGKILL);
  siginfo_t info{};
  int rc;
  do {
    rc = ::waitid(P_PIDFD, static_cast<id_t>(pidfd_.native_handle()), &info, WEXITED);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) throw boost::system::system_error(errno, boost::system::system_category(), "waitid on the shell");
  shell_reaped_ = true;
  exited_ = info.si_code == CLD_EXITED;
  exit_code_ = exited_ ? info.si_status : 0;
  signal_ = exited_ ? 0 : info.si_status;
  stop_reading_ = true;
  boost::system::error_code ignored;
  output_pipe_.cancel(ignored);
}

void Execution::drain_output() {
  std::vector<char> chunk(read_chunk_bytes);
  std::size_t drained = 0;
  while (drained < drain_limit_bytes) {
    const ssize_t n = ::read(output_pipe_.native_handle(), chunk.data(), chunk.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // end of file, or nothing more right now (the pipe is non-blocking)
    output_.append({chunk.data(), static_cast<std::size_t>(n)});
    drained += static_cast<std::size_t>(n);
  }
}

void Execution::cancel() { stop(StopCause::cancel); }

void Execution::stop(StopCause cause) {
  if (finished() || shell_reaped_ || stop_cause_ != StopCause::none) return;
  // A shell that has already exited is not stopped: its real result is on its way to reap_shell().
  siginfo_t info{};
  if (::waitid(P_PIDFD, static_cast<id_t>(pidfd_.native_handle()), &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
      info.si_pid != 0)
    return;
  stop_cause_ = cause;
  ::kill(-process_group_, SIGTERM);
  grace_timer_.expires_after(environment_.kill_grace_period);
  grace_timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (ec || self->shell_reaped_) return;
    ::kill(-self->process_group_, SIGKILL);
    self->sent_sigkill_ = true;
  });
}

void Execution::abandon(std::exception_ptr failure) {
  internal_error_ = jarvis::describe(failure);
  log_.error("execution supervision failed", {{"execution_id", spec_.id}, {"error", internal_error_}});
  if (finished()) return;
  if (!shell_reaped_) {
    ::kill(-process_group_, SIGKILL);
    int ignored_status;
    ::waitpid(process_group_, &ignored_status, WNOHANG);
  }
  finish();
}

void Execution::finish() {
  end_time_ = std::chrono::system_clock::now();
  finished_at_ = std::chrono::steady_clock::now();
  timeout_timer_.cancel();
  grace_timer_.cancel();
  boost::system::error_code ignored;
  output_pipe_.close(ignored);
  pidfd_.close(ignored);
  decide_final_state();
  log_end();
  wake_waiters();
  if (auto on_finished = std::move(on_finished_)) on_finished(*this);
}

void Execution::decide_final_state() {
  const std::string stopping =
      "sent SIGTERM to its process group" +
      (sent_sigkill_ ? ", then SIGKILL after the " + describe(environment_.kill_grace_period) + " grace period"
                     : std::string());
  if (!internal_error_.empty()) {
    state_ = ExecutionState::failed;
    reason_ = "the agent lost track of the command: " + internal_error_;
  } else if (stop_cause_ == StopCause::timeout) {
    state_ = ExecutionState::timed_out;
    reason_ = "timed out after " + describe(spec_.timeout) + ": " + stopping;
  } else if (stop_cause_ == StopCause::cancel) {
    state_ = ExecutionState::canceled;
    reason_ = "canceled: " + stopping;
  } else if (exited_ && exit_code_ == 0) {
    state_ = ExecutionState::succeeded;
  } else if (exited_) {
    state_ = ExecutionState::failed;
    reason_ = "exited with status " + std::to_string(exit_code_);
  } else {
    state_ = ExecutionState::failed;
    reason_ = "killed by " + signal_name(signal_);
  }
}

asio::awaitable<void> Execution::wait_finished(std::chrono::steady_clock::time_point deadline) {
  if (finished() || waiters_released_) co_return;
  const auto self = shared_from_this();
  asio::steady_timer timer(executor_, deadline);
  WaiterRegistration registration(waiters_, timer);
  co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
}

void Execution::release_waiters() {
  waiters_released_ = true;
  wake_waiters();
}

void Execution::wake_waiters() {
  for (auto* timer : waiters_) timer->cancel();
}

ExecutionStatus Execution::status() const {
  if (recorded_status_) return *recorded_status_;
  ExecutionStatus s;
  s.execution_id = spec_.id;
  s.node_name = environment_.node_name;
  s.command = spec_.command;
  s.state = state_;
  s.exited = exited_;
  s.exit_code = exit_code_;
  s.signal = signal_;
  s.output = output_.contents();
  s.output_bytes_total = output_.total_bytes();
  s.truncated = output_.truncated();
  s.start_time = start_time_;
  if (finished()) s.end_time = end_time_;
  s.reason = reason_;
  return s;
}

void Execution::log_start() const {
  log_.info("execution started", {{"execution_id", spec_.id},
                                  {"command", spec_.command},
                                  {"node", environment_.node_name},
                                  {"pid", process_group_},
                                  {"timeout_s", spec_.timeout.count()},
                                  {"max_output_bytes", spec_.max_output_bytes},
                                  {"origin_namespace", spec_.origin.namespace_name},
                                  {"origin_name", spec_.origin.name},
                                  {"origin_uid", spec_.origin.uid},
                                  {"origin_generation", spec_.origin.generation},
                                  {"requested_by", spec_.requested_by},
                                  {"start_time_unix_ms", unix_ms(start_time_)}});
}

void Execution::log_end() const {
  const auto duration = std::chrono::duration_cast<std::chrono::milliseconds>(finished_at_ - started_at_);
  log_.info("execution finished", {{"execution_id", spec_.id},
                                   {"command", spec_.command},
                                   {"node", environment_.node_name},
                                   {"origin_namespace", spec_.origin.namespace_name},
                                   {"origin_name", spec_.origin.name},
                                   {"origin_uid", spec_.origin.uid},
                                   {"origin_generation", spec_.origin.generation},
                                   {"requested_by", spec_.requested_by},
                                   {"state", to_string(state_)},
                                   {"exited", exited_},
                                   {"exit_code", exit_code_},
                                   {"signal", signal_},
                                   {"duration_ms", duration.count()},
                                   {"output_bytes_total", output_.total_bytes()},
                                   {"truncated", output_.truncated()},
                                   {"reason", reason_}});
}

}  // namespace jarvis::agent
