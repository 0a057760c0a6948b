#include "agent/grpc_service.hpp"

#include <algorithm>
#include <exception>
#include <optional>
#include <string>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>

#include "agent/start_request_validation.hpp"
#include "common/coro.hpp"
#include "tls/grpc_credentials.hpp"  // peer_common_name

namespace jarvis::agent {

namespace {

grpc::StatusCode refusal_status_code(int refusal) {
  switch (static_cast<StartRefusal>(refusal)) {
    case StartRefusal::too_many_running: return grpc::StatusCode::RESOURCE_EXHAUSTED;
    case StartRefusal::shutting_down: return grpc::StatusCode::UNAVAILABLE;
    case StartRefusal::beyond_journal_horizon: return grpc::StatusCode::NOT_FOUND;
    case StartRefusal::journal_unwritable: return grpc::StatusCode::FAILED_PRECONDITION;
  }
  return grpc::StatusCode::INTERNAL;
}

}  // namespace

// One call of one method, from the request for it to its finish. It is owned by the completion queue's
// events: created when a call of its method is requested, deleted when that request fails (the server is
// shutting down) or when its finish completes.
struct AgentService::Call {
  enum Method { start_method, wait_method, cancel_method };
  static constexpr int methods = 3;

  explicit Call(int m) : method(m), responder(&context) {}

  int method;
  bool taken = false;  // the request completed: a client is waiting for the answer
  grpc::ServerContext context;
  v1::StartRequest start_request;
  v1::WaitRequest wait_request;
  v1::CancelRequest cancel_request;
  v1::Execution response;
  grpc::ServerAsyncResponseWriter<v1::Execution> responder;
};

AgentService::AgentService(asio::any_io_executor executor, ExecutionRegistry& registry, RequestDefaults defaults,
                           Logger& log, const ConnectionPeers* peers)
    : executor_(std::move(executor)), registry_(registry), defaults_(defaults), log_(log), peers_(peers) {}

AgentService::~AgentService() { stop(); }

void AgentService::register_with(grpc::ServerBuilder& builder) {
  builder.RegisterService(&async_service_);
  queue_ = builder.AddCompletionQueue();
}

void AgentService::serve() {
  for (int method = 0; method < Call::methods; ++method) request(method);
  thread_ = std::thread([this] { take_calls(); });
}

void AgentService::stop() {
  std::unique_lock lock(mutex_);
  if (queue_closed_ || !queue_) return;
  while (!no_call_.wait_for(lock, std::chrono::seconds(10), [this] { return in_flight_ == 0; }))
    log_.warn("agent stopping: waiting for gRPC calls to finish", {{"calls", in_flight_}});
  queue_closed_ = true;
  queue_->Shutdown();
  lock.unlock();
  if (thread_.joinable()) {
    thread_.join();
  } else {
    take_calls();  // never served: drains the queue
  }
}

void AgentService::request(int method) {
  std::lock_guard lock(mutex_);
  if (queue_closed_) return;
  auto* call = new Call(method);
  auto* queue = queue_.get();
  switch (method) {
    case Call::start_method:
      async_service_.RequestStart(&call->context, &call->start_request, &call->responder, queue, queue, call);
      break;
    case Call::wait_method:
      async_service_.RequestWait(&call->context, &call->wait_request, &call->responder, queue, queue, call);
      break;
    case Call::cancel_method:
      async_service_.RequestCancel(&call->context, &call->cancel_request, &call->responder, queue, queue, call);
      break;
  }
}

void AgentService::take_calls() {
  void* tag = nullptr;
  bool ok = false;
  while (queue_->Next(&tag, &ok)) on_event(static_cast<Call*>(tag), ok);
}

void AgentService::on_event(Call* call, bool ok) {
  if (call->taken) {  // its finish completed (or failed: the client went away)
    delete call;
    std::lock_guard lock(mutex_);
    if (--in_flight_ == 0) no_call_.notify_all();
    return;
  }
  if (!ok) {  // the server is shutting down: no call came, none will
    delete call;
    return;
  }
  call->taken = true;
  {
    std::lock_guard lock(mutex_);
    if (queue_closed_) {  // cannot happen after the server's Shutdown(); its finish would have no queue
      delete call;        // the call is cancelled with its context
      return;
    }
    ++in_flight_;
  }
  request(call->method);  // ready for the next call of the same method
  handle(call);
}

void AgentService::handle(Call* call) {
  switch (call->method) {
    case Call::start_method: {
      // Read here, while the call is certainly alive: who is asking, for the audit lines.
      std::string caller = call->context.peer();
      if (const auto peer = peers_ ? peers_->find(caller) : std::nullopt) {
        caller = "CN=" + peer->common_name + " " + peer->address;
      } else if (const auto auth = call->context.auth_context()) {
        if (const std::string name = tls::peer_common_name(*auth); !name.empty()) caller = "CN=" + name + " " + caller;
      }
      asio::post(executor_, [this, call, caller = std::move(caller)] {
        answer(call, "Start", start(call->start_request, caller, call->response));
      });
      return;
    }
    case Call::wait_method:
      asio::post(executor_, [this, call] { answer(call, "Wait", wait(call->wait_request, call->response)); });
      return;
    case Call::cancel_method:
      asio::post(executor_, [this, call] { answer(call, "Cancel", cancel(call->cancel_request, call->response)); });
      return;
  }
}

// Runs a method's coroutine on the executor and finishes the call with its status (INTERNAL if it threw).
void AgentService::answer(Call* call, const char* method, asio::awaitable<grpc::Status> work) {
  asio::co_spawn(executor_, std::move(work), [this, call, method](std::exception_ptr failure, grpc::Status status) {
    if (!failure) return finish(call, status);
    log_.error(std::string(method) + " failed inside the agent", {{"error", jarvis::describe(failure)}});
    finish(call, grpc::Status(grpc::StatusCode::INTERNAL, std::string("the agent failed to answer ") + method));
  });
}

void AgentService::finish(Call* call, const grpc::Status& status) {
  // The queue cannot be shut down meanwhile: stop() waits for every call taken to be finished.
  if (status.ok()) {
    call->responder.Finish(call->response, status, call);
  } else {
    call->responder.FinishWithError(status, call);
  }
}

asio::awaitable<grpc::Status> AgentService::start(const v1::StartRequest& request, std::string caller,
                                                  v1::Execution& response) {
  if (auto problem = start_request_problem(request)) {
    const std::string_view id = request.execution_id();
    log_.warn("start refused", {{"execution_id", id.substr(0, max_execution_id_length)}, {"reason", *problem}});
    co_return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, *problem);
  }
  ExecutionSpec spec = to_spec(request, defaults_);
  spec.requested_by = std::move(caller);
  auto started = co_await registry_.start(
      std::move(spec), StartDispatch{.resume = request.resume(), .dispatched_unix_ms = request.dispatched_unix_ms()});
  if (!started) {
    log_.warn("start refused", {{"execution_id", request.execution_id()}, {"reason", started.error().message}});
    co_return grpc::Status(refusal_status_code(started.error().code), started.error().message);
  }
  if (!started->created) log_.debug("start of a known execution", {{"execution_id", request.execution_id()}});
  to_proto(started->execution->status(), response);
  co_return grpc::Status::OK;
}

asio::awaitable<grpc::Status> AgentService::wait(const v1::WaitRequest& request, v1::Execution& response) {
  if (auto problem = execution_id_problem(request.execution_id()))
    co_return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, *problem);
  const auto execution = registry_.find(request.execution_id());
  if (!execution) co_return not_found(request.execution_id());
  if (request.max_wait_ms() > 0) {
    const auto wait_for = std::min(std::chrono::milliseconds(request.max_wait_ms()), max_wait);
    log_.debug("long-poll started", {{"execution_id", request.execution_id()}, {"max_wait_ms", wait_for.count()}});
    co_await execution->wait_finished(std::chrono::steady_clock::now() + wait_for);
  }
  to_proto(execution->status(), response);
  co_return grpc::Status::OK;
}

asio::awaitable<grpc::Status> AgentService::cancel(const v1::CancelRequest& request, v1::Execution& response) {
  if (auto problem = execution_id_problem(request.execution_id()))
    co_return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, *problem);
  if (const auto known = registry_.find(request.execution_id()); known && !known->finished())
    log_.info("cancel requested", {{"execution_id", request.execution_id()}});
  const auto execution = co_await registry_.cancel(request.execution_id());
  if (!execution) {
    log_.error("cancel failed", {{"execution_id", request.execution_id()}, {"reason", execution.error().message}});
    co_return grpc::Status(grpc::StatusCode::UNAVAILABLE, execution.error().message);
  }
  to_proto((*execution)->status(), response);
  co_return grpc::Status::OK;
}

grpc::Status AgentService::not_found(const std::string& execution_id) const {
  return grpc::Status(grpc::StatusCode::NOT_FOUND,
                      "no execution \"" + execution_id + "\" on this agent: never started here, or its result is "
                      "no longer retained (--retain-finished, --retain-finished-for, --journal-max-bytes)");
}

}  // namespace jarvis::agent
