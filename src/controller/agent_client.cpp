#include "controller/agent_client.hpp"

#include <algorithm>
#include <functional>
#include <limits>
#include <optional>
#include <utility>

#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <grpcpp/create_channel.h>
#include <grpcpp/support/channel_arguments.h>

#include "common/coro.hpp"
#include "tls/tls_directory.hpp"

namespace jarvis::controller {

namespace asio = boost::asio;
using jarvis::v1::Execution;

namespace {

// The agent caps output at its --max-output-bytes (1 MiB by default); gRPC's 4 MiB default would turn a
// larger, deliberately configured cap into RESOURCE_EXHAUSTED.
constexpr int kMaxResponseBytes = 64 * 1024 * 1024;
// gRPC backs off up to 2 minutes between reconnects and fails calls fast meanwhile; an agent that restarts
// (a DaemonSet rollout) must be reachable again within seconds.
constexpr int kMaxReconnectBackoffMs = 5'000;

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

// Marks a channel busy from the call's start to its end (whatever way the coroutine ends), so that
// close_idle_channels never closes a channel under a call and knows since when it is idle.
template <typename Channel>
class CallInFlight {
 public:
  explicit CallInFlight(std::shared_ptr<Channel> channel) : channel_(std::move(channel)) {
    if (channel_) ++channel_->calls_in_flight;
  }
  CallInFlight(CallInFlight&& other) noexcept : channel_(std::move(other.channel_)) {}
  CallInFlight(const CallInFlight&) = delete;
  CallInFlight& operator=(const CallInFlight&) = delete;
  CallInFlight& operator=(CallInFlight&&) = delete;
  ~CallInFlight() {
    if (channel_ && --channel_->calls_in_flight == 0) channel_->idle_since = std::chrono::steady_clock::now();
  }
  std::shared_ptr<jarvis::v1::Agent::Stub> stub() const { return channel_ ? channel_->stub : nullptr; }

 private:
  std::shared_ptr<Channel> channel_;
};

template <typename Channel, typename Request, typename Invoke>
asio::awaitable<Result<Execution>> unary(CallInFlight<Channel> in_flight, asio::any_io_executor fallback,
                                         std::string_view rpc, std::string address, Request request,
                                         std::chrono::milliseconds deadline, Invoke invoke) {
  auto stub = in_flight.stub();
  const auto cancellation = co_await asio::this_coro::cancellation_state;
  if (is_cancelled(cancellation)) {
    // Awaiting an operation now would throw; a cancelled caller gets what a cancelled RPC gives.
    co_return Error{"agent " + address + ": " + std::string(rpc) + " " + request.execution_id() +
                        ": CANCELLED: cancelled before it was sent",
                    static_cast<int>(grpc::StatusCode::CANCELLED)};
  }
  if (!stub) {
    co_return Error{"agent " + address + ": " + std::string(rpc) + " " + request.execution_id() +
                        ": UNAVAILABLE: the controller's TLS credentials are not ready",
                    static_cast<int>(grpc::StatusCode::UNAVAILABLE)};
  }
  auto call = std::make_shared<UnaryCall<Request>>();
  call->stub = std::move(stub);
  call->request = std::move(request);
  call->context.set_deadline(std::chrono::system_clock::now() + deadline);
  const grpc::Status status = co_await async_unary(call, std::move(invoke), std::move(fallback), asio::use_awaitable);
  if (status.ok()) co_return std::move(call->response);
  std::string message = "agent " + address + ": " + std::string(rpc) + " " + call->request.execution_id() + ": " +
                        std::string(grpc_code_name(status.error_code()));
  if (!status.error_message().empty()) message += ": " + status.error_message();
  co_return Error{std::move(message), static_cast<int>(status.error_code())};
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

AgentClient::AgentClient(asio::any_io_executor executor, Logger& log, const tls::TransportSecurity& security,
                         std::size_t concurrent_starts)
    : executor_(std::move(executor)), log_(log), security_(security), start_slots_(executor_, concurrent_starts) {}

Status AgentClient::prepare() {
  if (credentials_) return Ok{};
  if (!security_.insecure) {
    auto files = tls::read_tls_directory(security_.directory);
    if (!files) return Error{"the controller's TLS files are not ready: " + files.error().message};
    if (auto usable = tls::verify_key_pair(files->identity, files->ca_certificate_pem, tls::Clock::now()); !usable)
      return Error{"the controller's TLS files in " + security_.directory + " are not usable: " +
                   usable.error().message};
  }
  // gRPC's certificate provider reads the files when it is made, so the first handshake already has them.
  credentials_ = tls::controller_channel_credentials(security_);
  return Ok{};
}

std::shared_ptr<AgentClient::Channel> AgentClient::channel_for(const std::string& address) {
  if (const auto it = channels_.find(address); it != channels_.end()) return it->second;
  if (!prepared()) {
    if (auto ready = prepare(); !ready) {
      log_.warn("cannot open a channel to the agent yet", {{"agent", address}, {"error", ready.error().message}});
      return nullptr;
    }
  }
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(kMaxResponseBytes);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, kMaxReconnectBackoffMs);
  if (!security_.insecure) tls::add_agent_channel_arguments(args);
  auto channel = std::make_shared<Channel>();
  channel->stub = std::make_shared<jarvis::v1::Agent::Stub>(grpc::CreateCustomChannel(address, credentials_, args));
  channel->idle_since = std::chrono::steady_clock::now();
  channels_.emplace(address, channel);
  log_.debug("opened channel to agent", {{"agent", address}});
  return channel;
}

void AgentClient::forget(const std::string& address) { channels_.erase(address); }

std::size_t AgentClient::close_channels_idle_for(std::chrono::steady_clock::duration idle_after) {
  const auto now = std::chrono::steady_clock::now();
  return std::erase_if(channels_, [&](const auto& entry) {
    const Channel& channel = *entry.second;
    return channel.calls_in_flight == 0 && now - channel.idle_since >= idle_after;
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
    co_return Error{"agent " + address + ": Start " + request.execution_id() + ": CANCELLED: cancelled before it was sent",
                    static_cast<int>(grpc::StatusCode::CANCELLED)};
  }
  co_return co_await unary(CallInFlight(channel_for(address)), executor_, "Start", address, std::move(request),
                           deadline,
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
  return unary(CallInFlight(channel_for(address)), executor_, "Wait", address, std::move(request), deadline,
               [](AsyncAgent* agent, grpc::ClientContext* context, const jarvis::v1::WaitRequest* req,
                  Execution* response, std::function<void(grpc::Status)> done) {
                 agent->Wait(context, req, response, std::move(done));
               });
}

asio::awaitable<Result<Execution>> AgentClient::cancel(const std::string& address, std::string execution_id,
                                                       std::chrono::milliseconds deadline) {
  jarvis::v1::CancelRequest request;
  request.set_execution_id(std::move(execution_id));
  return unary(CallInFlight(channel_for(address)), executor_, "Cancel", address, std::move(request), deadline,
               [](AsyncAgent* agent, grpc::ClientContext* context, const jarvis::v1::CancelRequest* req,
                  Execution* response, std::function<void(grpc::Status)> done) {
                 agent->Cancel(context, req, response, std::move(done));
               });
}

}  // namespace jarvis::controller
