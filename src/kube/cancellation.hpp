// Whether the coroutine running us has been asked to stop. Checked after every suspension point, because
// once cancelled, co_await on a further awaitable throws (Asio's throw_if_cancelled default) and a stop is
// an expected outcome, not an exception.
#pragma once

#include <boost/asio/cancellation_state.hpp>
#include <boost/asio/error.hpp>

#include "common/result.hpp"

namespace jarvis::kube {

inline bool is_cancelled(const boost::asio::cancellation_state& state) {
  return state.cancelled() != boost::asio::cancellation_type::none;
}

inline Error cancelled_error() { return Error{"cancelled", boost::asio::error::operation_aborted}; }

}  // namespace jarvis::kube
