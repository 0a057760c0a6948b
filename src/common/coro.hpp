// The coroutine toolbox every component uses (Boost.Asio awaitables on one executor):
// - use_tuple, the default completion token: expected failures come back as error codes, never thrown;
// - is_cancelled / cancelled_error: whether the coroutine running us was asked to stop, checked after every
//   suspension point (once cancelled, awaiting anything further throws, and a stop is expected, not a bug);
// - sleep_for: a cancellable pause;
// - report_failure: the completion handler for co_spawn that looks at the coroutine's exception and logs it.
// GCC 12 miscompiles a co_await inside a condition or a short-circuit expression (a corrupted frame, SIGSEGV
// or SIGILL on resume): bind the result first, `const bool slept = co_await sleep_for(d); if (!slept) ...`.
#pragma once

#include <chrono>
#include <exception>
#include <functional>
#include <string>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/cancellation_state.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "common/log.hpp"
#include "common/result.hpp"

namespace jarvis {

inline constexpr auto use_tuple = boost::asio::as_tuple(boost::asio::use_awaitable);

inline bool is_cancelled(const boost::asio::cancellation_state& state) {
  return state.cancelled() != boost::asio::cancellation_type::none;
}

inline Error cancelled_error() { return Error{"cancelled", boost::asio::error::operation_aborted}; }

// Waits `delay` on the current executor; false when the wait was cancelled (the caller should stop).
boost::asio::awaitable<bool> sleep_for(std::chrono::steady_clock::duration delay);

// Whether `failure` is the operation_aborted Asio throws into a coroutine stopped while suspended: an
// expected end (a stopped task), not a bug.
bool stopped_by_cancellation(std::exception_ptr failure);

// A co_spawn completion handler: a task that ended with an exception other than a stop is a bug; it is
// logged (error level, with the task's name and the exception's text) instead of being lost.
std::function<void(std::exception_ptr)> report_failure(Logger& log, std::string task);

// The text of an exception_ptr's exception ("unknown exception" when it is not a std::exception).
std::string describe(std::exception_ptr failure);

}  // namespace jarvis
