// The subcommands' work once flags are parsed and the target pinned: each returns the exit status.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/signal_set.hpp>

#include "cli/command_request.hpp"
#include "cli/kubeconfig.hpp"
#include "cli/plugin_options.hpp"
#include "common/log.hpp"
#include "kube/client.hpp"

namespace jarvis::cli {

struct Session {
  PinnedTarget& target;
  Logger& log;
  kube::Client& client;
  boost::asio::signal_set* interrupts;  // SIGINT for run and rerun, installed before any request
};

// run: creates `request`, waits, prints the results in `format`.
boost::asio::awaitable<int> create_and_wait(Session& s, CommandRequest request, OutputFormat format);
boost::asio::awaitable<int> rerun(Session& s, const RerunOptions& options, OutputFormat format);
boost::asio::awaitable<int> show(Session& s, const ShowOptions& options, OutputFormat format, bool describe);
boost::asio::awaitable<int> logs(Session& s, const LogsOptions& options);

}  // namespace jarvis::cli
