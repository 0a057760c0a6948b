// The two directions of a relayed connection (the agent's TLS front, the controller's agent connections), run
// until both have ended. Each direction is a coroutine that copies until its source ends; an end of stream on one
// side is passed on by that coroutine as a half-close of the other. Once one direction has ended normally, the
// other gets `linger` to end too. A failure of either, or the linger running out, calls `close_both`, which must
// make what still runs end soon (closing the sockets does).
#pragma once

#include <chrono>
#include <functional>

#include <boost/asio/awaitable.hpp>

namespace jarvis::tls {

enum class RelayEnd { end_of_stream, failed };

// Returns once both directions have ended, after a last close_both().
boost::asio::awaitable<void> relay_both_ways(boost::asio::awaitable<RelayEnd> one,
                                             boost::asio::awaitable<RelayEnd> other, std::function<void()> close_both,
                                             std::chrono::steady_clock::duration linger);

}  // namespace jarvis::tls
