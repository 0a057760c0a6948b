#include "agent/grpc_service.hpp"

#include <algorithm>
#include <exception>

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

AgentService::AgentService(asio::any_io_executor executor, ExecutionRegistry& registry, RequestDefaults defaults,
                           Logger& log, const ConnectionPeers* peers)
    : executor_(std::move(executor)), registry_(registry), defaults_(defaults), log_(log), peers_(peers) {}

grpc::ServerUnaryReactor* AgentService::Start(grpc::CallbackServerContext* context, const v1::StartRequest* request,
                                              v1::Execution* response) {
  auto* reactor = context->DefaultReactor();
  // Read on gRPC's thread, while the call is certainly alive: who is asking, for the audit lines.
  std::string caller = context->peer();
  if (const auto peer = peers_ ? peers_->find(caller) : std::nullopt) {
    caller = "CN=" + peer->common_name + " " + peer->address;
  } else if (const auto auth = context->auth_context()) {
    if (const std::string name = tls::peer_common_name(*auth); !name.empty()) caller = "CN=" + name + " " + caller;
  }
  asio::post(executor_, [this, reactor, request, response, caller = std::move(caller)] {
    reactor->Finish(start(*request, caller, *response));
  });
  return reactor;
}

grpc::ServerUnaryReactor* AgentService::Wait(grpc::CallbackServerContext* context, const v1::WaitRequest* request,
                                             v1::Execution* response) {
  auto* reactor = context->DefaultReactor();
  asio::post(executor_, [this, reactor, request, response] {
    asio::co_spawn(executor_, wait(*request, *response),
                   [this, reactor](std::exception_ptr failure, grpc::Status status) {
                     if (!failure) return reactor->Finish(status);
                     log_.error("Wait failed inside the agent", {{"error", jarvis::describe(failure)}});
                     reactor->Finish(grpc::Status(grpc::StatusCode::INTERNAL, "the agent failed to wait"));
                   });
  });
  return reactor;
}

grpc::ServerUnaryReactor* AgentService::Cancel(grpc::CallbackServerContext* context, const v1::CancelRequest* request,
                                               v1::Execution* response) {
  auto* reactor = context->DefaultReactor();
  asio::post(executor_, [this, reactor, request, response] { reactor->Finish(cancel(*request, *response)); });
  return reactor;
}

grpc::Status AgentService::start(const v1::StartRequest& request, const std::string& caller,
                                 v1::Execution& response) {
  if (auto problem = start_request_problem(request)) {
    const std::string_view id = request.execution_id();
    log_.warn("start refused", {{"execution_id", id.substr(0, max_execution_id_length)}, {"reason", *problem}});
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, *problem);
  }
  ExecutionSpec spec = to_spec(request, defaults_);
  spec.requested_by = caller;
  auto started = registry_.start(std::move(spec), StartDispatch{.resume = request.resume(),
                                                                .dispatched_unix_ms = request.dispatched_unix_ms()});
  if (!started) {
    log_.warn("start refused", {{"execution_id", request.execution_id()}, {"reason", started.error().message}});
    return grpc::Status(refusal_status_code(started.error().code), started.error().message);
  }
  if (!started->created) log_.debug("start of a known execution", {{"execution_id", request.execution_id()}});
  to_proto(started->execution->status(), response);
  return grpc::Status::OK;
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

grpc::Status AgentService::cancel(const v1::CancelRequest& request, v1::Execution& response) {
  if (auto problem = execution_id_problem(request.execution_id()))
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, *problem);
  if (const auto known = registry_.find(request.execution_id()); known && !known->finished())
    log_.info("cancel requested", {{"execution_id", request.execution_id()}});
  const auto execution = registry_.cancel(request.execution_id());
  if (!execution) {
    log_.error("cancel failed", {{"execution_id", request.execution_id()}, {"reason", execution.error().message}});
    return grpc::Status(grpc::StatusCode::UNAVAILABLE, execution.error().message);
  }
  to_proto((*execution)->status(), response);
  return grpc::Status::OK;
}

grpc::Status AgentService::not_found(const std::string& execution_id) const {
  return grpc::Status(grpc::StatusCode::NOT_FOUND,
                      "no execution \"" + execution_id + "\" on this agent: never started here, or its result is "
                      "no longer retained (--retain-finished, --retain-finished-for, --journal-max-bytes)");
}

}  // namespace jarvis::agent
