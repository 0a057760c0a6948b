// The controller's gRPC client to the node agents (proto/jarvis.proto), usable from Asio coroutines on the
// controller's single thread. Calls run on gRPC's callback API and complete on the caller's executor, so
// no controller state is ever touched from a gRPC thread. Every call has a deadline; failures come back as
// an Error whose code is the gRPC status code (grpc::StatusCode: 4 DEADLINE_EXCEEDED, 5 NOT_FOUND,
// 14 UNAVAILABLE, 1 CANCELLED) and whose message names the agent's address.
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <grpcpp/security/credentials.h>

#include "common/async_semaphore.hpp"
#include "common/log.hpp"
#include "controller/agent_api.hpp"
#include "common/result.hpp"
#include "jarvis.grpc.pb.h"
#include "tls/grpc_credentials.hpp"

namespace jarvis::controller {

// gRPC's name of a status code (OK, UNAVAILABLE, DEADLINE_EXCEEDED, ...), as error messages and the metrics'
// code label show it; "UNKNOWN" for a code gRPC does not define.
std::string_view grpc_code_name(int code);

// The executor's io_context must outlive calls in flight: they keep it from running out of work, so let
// run() return rather than stop() it.
class AgentClient final : public AgentApi {
 public:
  // At most this many Start calls at once (the others wait their turn): a Start is what opens a channel, and
  // each open channel costs about 150 KiB (below), so a 1,000-node dispatch opens them a few dozen at a time.
  static constexpr std::size_t default_concurrent_starts = 64;

  // `security` decides the transport: mutual TLS over its directory (tls/grpc_credentials.hpp), or plaintext.
  AgentClient(boost::asio::any_io_executor executor, Logger& log, const tls::TransportSecurity& security,
              std::size_t concurrent_starts = default_concurrent_starts);
  AgentClient(const AgentClient&) = delete;
  AgentClient& operator=(const AgentClient&) = delete;

  // `address` is "host:port" as agent_addresses() gives it. A Start may first wait for one of the
  // `concurrent_starts` slots; its deadline counts from when it is sent. If the awaiting coroutine is cancelled, the
  // RPC is cancelled too and the call completes with CANCELLED; what the agent did meanwhile is unknown.
  // (Asio throws operation_aborted when an already-cancelled coroutine awaits anything, unless it has
  // turned off this_coro::throw_if_cancelled; then these calls complete at once with CANCELLED.)
  boost::asio::awaitable<Result<jarvis::v1::Execution>> start(const std::string& address,
                                                              jarvis::v1::StartRequest request,
                                                              std::chrono::milliseconds deadline) override;
  // `deadline` must exceed `max_wait` (the agent holds the call up to max_wait), or the call ends with
  // DEADLINE_EXCEEDED while the agent is still waiting.
  boost::asio::awaitable<Result<jarvis::v1::Execution>> wait(const std::string& address, std::string execution_id,
                                                             std::chrono::milliseconds max_wait,
                                                             std::chrono::milliseconds deadline) override;
  boost::asio::awaitable<Result<jarvis::v1::Execution>> cancel(const std::string& address, std::string execution_id,
                                                               std::chrono::milliseconds deadline) override;

  // Loads the TLS files and builds the channel credentials from them (a no-op with plaintext). Until this
  // succeeded no call is made: a channel built before the files exist fails every handshake until gRPC's
  // next re-read. Fails when the directory does not hold a usable certificate, key and CA.
  Status prepare();
  bool prepared() const { return credentials_ != nullptr; }

  // Channels are kept per address (reconnecting on their own); forget one whose agent is gone for good
  // (its pod replaced, so a new address) to release its connection.
  void forget(const std::string& address);

  // Closes, every `period`, the channels that have had no call in flight for `idle_after`, until cancelled.
  // Each open channel holds a TLS connection and its own copy of the TLS context (gRPC 1.51 builds one per
  // channel), about 150 KiB: without this a controller holds one per agent it ever called, so its memory
  // grows with the fleet rather than with the executions it follows. The next call reopens the channel.
  boost::asio::awaitable<void> close_idle_channels(std::chrono::steady_clock::duration idle_after,
                                                   std::chrono::steady_clock::duration period);
  // Closes now what close_idle_channels would close; returns how many.
  std::size_t close_channels_idle_for(std::chrono::steady_clock::duration idle_after);
  std::size_t open_channels() const { return channels_.size(); }

 private:
  // The channel to one address, and whether it is in use (only touched on the controller's executor).
  struct Channel {
    std::shared_ptr<jarvis::v1::Agent::Stub> stub;
    unsigned calls_in_flight = 0;
    std::chrono::steady_clock::time_point idle_since;
  };

  // The channel for `address` (opened if needed), nullptr when the TLS credentials are not ready.
  std::shared_ptr<Channel> channel_for(const std::string& address);

  boost::asio::any_io_executor executor_;
  Logger& log_;
  tls::TransportSecurity security_;
  std::shared_ptr<grpc::ChannelCredentials> credentials_;  // set by prepare()
  std::map<std::string, std::shared_ptr<Channel>> channels_;
  AsyncSemaphore start_slots_;
};

}  // namespace jarvis::controller
