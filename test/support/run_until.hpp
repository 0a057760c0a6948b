// Drives an io_context until a condition holds or a deadline passes, never longer.
#pragma once

#include <chrono>
#include <functional>

#include <boost/asio/io_context.hpp>

namespace jarvis::test {

// Returns whether `done` became true within `limit`. `on_tick`, if given, runs every few milliseconds.
bool run_until(boost::asio::io_context& io, const std::function<bool()>& done, std::chrono::milliseconds limit,
               const std::function<void()>& on_tick = {});

// Polls `done` (no io_context) every few milliseconds until it holds or `limit` passes.
bool eventually(const std::function<bool()>& done, std::chrono::milliseconds limit);

}  // namespace jarvis::test
