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

#include "common/async_semaphore.hpp"
#include "common/log.hpp"
#include "common/result.hpp"
#include "controller/agent_api.hpp"
#include "controller/agent_connector.hpp"
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
  // At most this many Start calls at once (the others wait their turn): a dispatch to 1,000 nodes opens its
  // connections a few dozen at a time.
  static constexpr std::size_t default_concurrent_starts = 64;
  // The longest a connection (TCP, then the TLS handshake) may take, whatever the call's own deadline.
  static constexpr std::chrono::milliseconds connect_timeout{10'000};

  // `security` decides the transport: mutual TLS over its directory (agent_connector.hpp), or plaintext.
  // `on_refused` hears of every failed TLS handshake with an agent (the audit line and the metric).
  // `keepalive`: how soon a silent agent is noticed under a call in flight (agent_connector.hpp).
  AgentClient(boost::asio::any_io_executor executor, Logger& log, const tls::TransportSecurity& security,
              std::size_t concurrent_starts = default_concurrent_starts, AgentConnector::OnRefused on_refused = {},
              AgentKeepalive keepalive = {});
  AgentClient(const AgentClient&) = delete;
  AgentClient& operator=(const AgentClient&) = delete;

  // `address` is "host:port" as agent_addresses() gives it. A Start may first wait for one of the
  // `concurrent_starts` slots; its deadline counts from when it is sent, and covers opening the connection. If
  // the awaiting coroutine is cancelled, the RPC is cancelled too and the call completes with CANCELLED; what
  // the agent did meanwhile is unknown. (Asio throws operation_aborted when an already-cancelled coroutine
  // awaits anything, unless it has turned off this_coro::throw_if_cancelled; then these calls complete at once
  // with CANCELLED.) A call that could not connect was never sent: UNAVAILABLE, or DEADLINE_EXCEEDED.
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

  // Loads the TLS files (a no-op with plaintext). Until this succeeded no call is made. Fails when the
  // directory does not hold a usable certificate, key and CA.
  Status prepare();
  bool prepared() const { return connector_.prepared(); }

  // A channel is kept per address while it is in use, and replaced by a new connection once its connection
  // ended; forget one whose agent is gone for good (its pod replaced, so a new address) to release it now.
  void forget(const std::string& address);

  // Closes, every `period`, the channels that have had no call in flight for `idle_after`, until cancelled.
  // Without this a controller holds a connection to every agent it ever called, so its memory grows with the
  // fleet rather than with the executions it follows. The next call reconnects.
  boost::asio::awaitable<void> close_idle_channels(std::chrono::steady_clock::duration idle_after,
                                                   std::chrono::steady_clock::duration period);
  // Closes now what close_idle_channels would close; returns how many.
  std::size_t close_channels_idle_for(std::chrono::steady_clock::duration idle_after);
  std::size_t open_channels() const { return channels_.size(); }

  // Closes every channel and connection (the controller is stopping): calls in flight fail, new ones reconnect.
  void close_all();

 private:
  struct Channel;
  // The channel for `address` (a new one, connecting in the background, if there is none or it broke).
  Result<std::shared_ptr<Channel>> channel_for(const std::string& address, std::chrono::milliseconds deadline);
  boost::asio::awaitable<void> connect(std::string address, std::shared_ptr<Channel> channel,
                                       std::chrono::milliseconds deadline);
  template <typename Request, typename Invoke>
  boost::asio::awaitable<Result<jarvis::v1::Execution>> unary(std::string_view rpc, std::string address,
                                                              Request request, std::chrono::milliseconds deadline,
                                                              Invoke invoke);

  boost::asio::any_io_executor executor_;
  Logger& log_;
  AgentConnector connector_;
  std::map<std::string, std::shared_ptr<Channel>> channels_;
  AsyncSemaphore start_slots_;
};

}  // namespace jarvis::controller
