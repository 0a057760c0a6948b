#include "controller/agent_client.hpp"

#include <algorithm>
#include <functional>
#include <limits>
#include <optional>
#include <utility>
#include <vector>

#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "common/coro.hpp"

namespace jarvis::controller {

namespace asio = boost::asio;
using jarvis::v1::Execution;

namespace {

// One unary call's state. gRPC writes `response` and then runs the callback; the callback only posts to
// the caller's executor, where everything else happens.
template <typename Request>
struct UnaryCall {
  std::shared_ptr<jarvis::v1::Agent::Stub> stub;  // keeps the channel alive until the call ends
  grpc::ClientContext context;
  Request request;
  Execution response;
};

using AsyncAgent = jarvis::v1::Agent::Stub::async_interface;

// Starts `invoke` (one of the stub's callback methods) and completes with its grpc::Status on the
// handler's executor. Cancelling the handler's slot cancels the RPC.
template <typename Request, typename Invoke, typename CompletionToken>
auto async_unary(std::shared_ptr<UnaryCall<Request>> call, Invoke invoke, asio::any_io_executor fallback,
                 CompletionToken&& token) {
  return asio::async_initiate<CompletionToken, void(grpc::Status)>(
      [](auto handler, std::shared_ptr<UnaryCall<Request>> call, Invoke invoke, asio::any_io_executor fallback) {
        using Handler = decltype(handler);
        auto slot = asio::get_associated_cancellation_slot(handler);
        if (slot.is_connected()) {
          // Runs on the caller's thread; TryCancel is safe against gRPC's threads.
          slot.assign([call](asio::cancellation_type) { call->context.TryCancel(); });
        }
        // Keeps the caller's io_context from running out of work while gRPC owns the call.
        asio::any_io_executor home =
            asio::prefer(asio::get_associated_executor(handler, fallback), asio::execution::outstanding_work.tracked);
        // std::function needs a copyable callable; the handler is move-only.
        auto held = std::make_shared<std::optional<Handler>>(std::move(handler));
        // The callback keeps `call` too: gRPC uses the context until it has run, whatever the caller does. It
        // hands everything over to the posted function, so nothing of the caller's (the handler, the work
        // count on its io_context, the call) is released on a gRPC thread, where it could outlive them.
        auto* stub = call->stub.get();
        auto* context = &call->context;
        const auto* request = &call->request;
        auto* response = &call->response;
        invoke(stub->async(), context, request, response,
               [call = std::move(call), held, home](grpc::Status status) mutable {
                 const asio::any_io_executor target = asio::prefer(home, asio::execution::outstanding_work.untracked);
                 asio::post(target, [call = std::move(call), held = std::move(held), home = std::move(home),
                                     status = std::move(status)]() mutable {
                   Handler h = std::move(**held);
                   held->reset();
                   asio::get_associated_cancellation_slot(h).clear();
                   std::move(h)(std::move(status));
                 });
               });
      },
      token, std::move(call), std::move(invoke), std::move(fallback));
}

Error call_error(std::string_view rpc, const std::string& address, const std::string& execution_id,
                 grpc::StatusCode code, std::string_view detail, ErrorKind kind = ErrorKind::unspecified) {
  std::string message = "agent " + address + ": " + std::string(rpc) + " " + execution_id + ": " +
                        std::string(grpc_code_name(static_cast<int>(code)));
  if (!detail.empty()) message += ": " + std::string(detail);
  return Error{std::move(message), static_cast<int>(code), kind};
}

}  // namespace

std::string_view grpc_code_name(int code) {
  switch (static_cast<grpc::StatusCode>(code)) {
    case grpc::StatusCode::OK: return "OK";
    case grpc::StatusCode::CANCELLED: return "CANCELLED";
    case grpc::StatusCode::UNKNOWN: return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED: return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND: return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS: return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED: return "PERMISSION_DENIED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION: return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED: return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE: return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED: return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL: return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE: return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS: return "DATA_LOSS";
    case grpc::StatusCode::UNAUTHENTICATED: return "UNAUTHENTICATED";
    default: return "UNKNOWN";
  }
}

// One address's channel, from its connection attempt on (only touched on the controller's executor).
struct AgentClient::Channel {
  std::shared_ptr<jarvis::v1::Agent::Stub> stub;  // set once connected
  std::shared_ptr<const AgentConnector::ConnectionState> connection;  // set once connected
  std::optional<Error> failed;                    // the connection attempt failed
  bool broken = false;                            // a call on it ended UNAVAILABLE
  std::vector<asio::steady_timer*> waiting;       // calls waiting for the attempt; woken when it ends
  unsigned calls_in_flight = 0;
  std::chrono::steady_clock::time_point idle_since = std::chrono::steady_clock::now();

  bool connecting() const { return !stub && !failed; }
  bool usable() const { return !failed && !broken && !(connection && connection->ended); }
};

namespace {

// Marks a channel busy from the call's start to its end (whatever way the coroutine ends), so that
// close_idle_channels never closes a channel under a call and knows since when it is idle.
template <typename Channel>
class CallInFlight {
 public:
  explicit CallInFlight(std::shared_ptr<Channel> channel) : channel_(std::move(channel)) {
    ++channel_->calls_in_flight;
  }
  CallInFlight(const CallInFlight&) = delete;
  CallInFlight& operator=(const CallInFlight&) = delete;
  ~CallInFlight() {
    if (--channel_->calls_in_flight == 0) channel_->idle_since = std::chrono::steady_clock::now();
  }

 private:
  std::shared_ptr<Channel> channel_;
};

}  // namespace

AgentClient::AgentClient(asio::any_io_executor executor, Logger& log, const tls::TransportSecurity& security,
                         std::size_t concurrent_starts, AgentConnector::OnRefused on_refused,
                         AgentKeepalive keepalive)
    : executor_(executor),
      log_(log),
      connector_(executor, log, security, std::move(on_refused), keepalive),
      start_slots_(executor_, concurrent_starts) {}

Status AgentClient::prepare() { return connector_.prepare(); }

Result<std::shared_ptr<AgentClient::Channel>> AgentClient::channel_for(const std::string& address,
                                                                         std::chrono::milliseconds deadline) {
  if (const auto it = channels_.find(address); it != channels_.end() && it->second->usable()) return it->second;
  if (!prepared()) {
    if (auto ready = prepare(); !ready) {
      log_.warn("cannot open a channel to the agent yet", {{"agent", address}, {"error", ready.error().message}});
      return Error{"the controller's TLS credentials are not ready: " + ready.error().message,
                   static_cast<int>(grpc::StatusCode::UNAVAILABLE)};
    }
  }
  // Replaces a channel that broke (its calls in flight keep it until they end).
  auto channel = std::make_shared<Channel>();
  channels_[address] = channel;
  asio::co_spawn(executor_, connect(address, channel, std::min(deadline, connect_timeout)),
                 report_failure(log_, "connecting to agent " + address));
  return channel;
}

asio::awaitable<void> AgentClient::connect(std::string address, std::shared_ptr<Channel> channel,
                                           std::chrono::milliseconds deadline) {
  auto connection = co_await connector_.connect(address, deadline);
  if (connection) {
    channel->stub = std::make_shared<jarvis::v1::Agent::Stub>(connection->channel);
    channel->connection = std::move(connection->state);
    log_.debug("opened channel to agent", {{"agent", address}});
  } else {
    channel->failed = connection.error();
    // The next call tries again (the trackers retry with backoff).
    if (const auto it = channels_.find(address); it != channels_.end() && it->second == channel) channels_.erase(it);
    log_.debug("cannot connect to agent", {{"agent", address}, {"error", connection.error().message}});
  }
  for (auto* waiter : channel->waiting) waiter->cancel();
}

template <typename Request, typename Invoke>
asio::awaitable<Result<Execution>> AgentClient::unary(std::string_view rpc, std::string address, Request request,
                                                      std::chrono::milliseconds deadline, Invoke invoke) {
  const auto cancellation = co_await asio::this_coro::cancellation_state;
  if (is_cancelled(cancellation)) {
    // Awaiting an operation now would throw; a cancelled caller gets what a cancelled RPC gives.
    co_return call_error(rpc, address, request.execution_id(), grpc::StatusCode::CANCELLED,
                         "cancelled before it was sent");
  }
  const auto until = std::chrono::system_clock::now() + deadline;
  auto found = channel_for(address, deadline);
  if (!found) {
    co_return call_error(rpc, address, request.execution_id(), grpc::StatusCode::UNAVAILABLE, found.error().message);
  }
  std::shared_ptr<Channel> channel = std::move(*found);
  const CallInFlight in_flight(channel);
  if (channel->connecting()) {
    asio::steady_timer waiter(executor_, deadline);
    channel->waiting.push_back(&waiter);
    auto [ec] = co_await waiter.async_wait(use_tuple);
    std::erase(channel->waiting, &waiter);
    if (channel->connecting()) {
      if (!ec) {
        co_return call_error(rpc, address, request.execution_id(), grpc::StatusCode::DEADLINE_EXCEEDED,
                             "the connection to the agent took longer than the call's deadline");
      }
      co_return call_error(rpc, address, request.execution_id(), grpc::StatusCode::CANCELLED,
                           "cancelled before it was sent");
    }
  }
  if (channel->failed) {
    co_return call_error(rpc, address, request.execution_id(), static_cast<grpc::StatusCode>(channel->failed->code),
                         channel->failed->message, channel->failed->kind);
  }
  auto call = std::make_shared<UnaryCall<Request>>();
  call->stub = channel->stub;
  call->request = std::move(request);
  call->context.set_deadline(until);
  const grpc::Status status = co_await async_unary(call, std::move(invoke), executor_, asio::use_awaitable);
  if (status.ok()) co_return std::move(call->response);
  if (status.error_code() == grpc::StatusCode::UNAVAILABLE) {
    // The connection under an fd channel never comes back: the next call opens a new one.
    channel->broken = true;
    // gRPC saw the connection close; the relay saw why.
    if (const std::string& refusal = channel->connection->refusal; !refusal.empty())
      co_return call_error(rpc, address, call->request.execution_id(), status.error_code(), refusal,
                           ErrorKind::tls_handshake);
  }
  co_return call_error(rpc, address, call->request.execution_id(), status.error_code(), status.error_message());
}

void AgentClient::forget(const std::string& address) { channels_.erase(address); }

void AgentClient::close_all() {
  channels_.clear();
  connector_.close_all();
}

std::size_t AgentClient::close_channels_idle_for(std::chrono::steady_clock::duration idle_after) {
  const auto now = std::chrono::steady_clock::now();
  return std::erase_if(channels_, [&](const auto& entry) {
    const Channel& channel = *entry.second;
    return channel.calls_in_flight == 0 && !channel.connecting() && now - channel.idle_since >= idle_after;
  });
}

asio::awaitable<void> AgentClient::close_idle_channels(std::chrono::steady_clock::duration idle_after,
                                                       std::chrono::steady_clock::duration period) {
  // A zero period would make this a busy loop; sweeping more often than this only burns CPU.
  period = std::max<std::chrono::steady_clock::duration>(period, std::chrono::milliseconds(10));
  for (;;) {
    const bool slept = co_await sleep_for(period);
    if (!slept) co_return;
    if (const auto closed = close_channels_idle_for(idle_after); closed > 0) {
      log_.debug("closed idle agent channels", {{"closed", closed}, {"open", channels_.size()}});
    }
  }
}

asio::awaitable<Result<Execution>> AgentClient::start(const std::string& address, jarvis::v1::StartRequest request,
                                                      std::chrono::milliseconds deadline) {
  const auto permit = co_await start_slots_.acquire();
  if (!permit) {
    co_return call_error("Start", address, request.execution_id(), grpc::StatusCode::CANCELLED,
                         "cancelled before it was sent");
  }
  co_return co_await unary("Start", address, std::move(request), deadline,
                           [](AsyncAgent* agent, grpc::ClientContext* context, const jarvis::v1::StartRequest* req,
                              Execution* response, std::function<void(grpc::Status)> done) {
                             agent->Start(context, req, response, std::move(done));
                           });
}

asio::awaitable<Result<Execution>> AgentClient::wait(const std::string& address, std::string execution_id,
                                                     std::chrono::milliseconds max_wait,
                                                     std::chrono::milliseconds deadline) {
  jarvis::v1::WaitRequest request;
  request.set_execution_id(std::move(execution_id));
  request.set_max_wait_ms(static_cast<std::uint32_t>(std::clamp<std::chrono::milliseconds::rep>(
      max_wait.count(), 0, std::numeric_limits<std::uint32_t>::max())));
  return unary("Wait", address, std::move(request), deadline,
               [](AsyncAgent* agent, grpc::ClientContext* context, const jarvis::v1::WaitRequest* req,
                  Execution* response, std::function<void(grpc::Status)> done) {
                 agent->Wait(context, req, response, std::move(done));
               });
}

asio::awaitable<Result<Execution>> AgentClient::cancel(const std::string& address, std::string execution_id,
                                                       std::chrono::milliseconds deadline) {
  jarvis::v1::CancelRequest request;
  request.set_execution_id(std::move(execution_id));
  return unary("Cancel", address, std::move(request), deadline,
               [](AsyncAgent* agent, grpc::ClientContext* context, const jarvis::v1::CancelRequest* req,
                  Execution* response, std::function<void(grpc::Status)> done) {
                 agent->Cancel(context, req, response, std::move(done));
               });
}

}  // namespace jarvis::controller
