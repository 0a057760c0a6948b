// The wait of `kubectl jarvis run`: follows one Command with a watch (an informer on its name, never
// polling) and feeds the progress view until the controller has a final phase for its generation. Ctrl-C
// asks whether to cancel (delete) the Command or leave it running; a second Ctrl-C, an empty answer or an
// unreadable stdin leaves it running.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/signal_set.hpp>

#include <cstdio>

#include "cli/command_client.hpp"
#include "cli/progress.hpp"
#include "common/log.hpp"
#include "common/result.hpp"
#include "kube/client.hpp"
#include "kube/object.hpp"

namespace jarvis::cli {

enum class WaitEnd {
  finished,      // final phase for the current generation; `object` is it
  deleted,       // someone else deleted it (or its TTL ran out) before it finished
  canceled,      // the user chose to cancel: deleted by us
  left_running,  // the user chose to leave it
};

struct WaitResult {
  WaitEnd end = WaitEnd::finished;
  kube::Object object;  // the last version seen
};

// Follows `created` until it ends. `interrupts` is a signal_set on SIGINT made before the Command was
// created (so a Ctrl-C during the create is not lost); `prompt` is where the question goes (stderr).
boost::asio::awaitable<Result<WaitResult>> wait_for_command(kube::Client& client, Logger& log,
                                                            const kube::Object& created, ProgressView& progress,
                                                            boost::asio::signal_set& interrupts, std::FILE* prompt);

// How an answer to the Ctrl-C question reads: y, yes, c, cancel, d, delete (any case) cancel; anything else
// leaves the Command running.
bool answer_cancels(std::string_view answer);

}  // namespace jarvis::cli
