#include "common/coro.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/system/system_error.hpp>

namespace jarvis {

namespace asio = boost::asio;

// Written in plain statements: GCC 12 miscompiles a co_await inside a short-circuit expression.
asio::awaitable<bool> sleep_for(std::chrono::steady_clock::duration delay) {
  const asio::cancellation_state state = co_await asio::this_coro::cancellation_state;
  asio::steady_timer timer(co_await asio::this_coro::executor, delay);
  auto [ec] = co_await timer.async_wait(use_tuple);
  const bool stopped = ec || is_cancelled(state);
  co_return !stopped;
}

bool stopped_by_cancellation(std::exception_ptr failure) {
  if (!failure) return false;
  try {
    std::rethrow_exception(failure);
  } catch (const boost::system::system_error& error) {
    return error.code() == asio::error::operation_aborted;
  } catch (...) {
    return false;
  }
}

std::string describe(std::exception_ptr failure) {
  if (!failure) return "no exception";
  try {
    std::rethrow_exception(failure);
  } catch (const std::exception& error) {
    return error.what();
  } catch (...) {
    return "unknown exception";
  }
}

std::function<void(std::exception_ptr)> report_failure(Logger& log, std::string task) {
  return [&log, task = std::move(task)](std::exception_ptr failure) {
    if (!failure || stopped_by_cancellation(failure)) return;
    log.error("task failed", {{"task", task}, {"error", describe(failure)}});
  };
}

}  // namespace jarvis
