#include "controller/instrumented_apis.hpp"

#include <grpcpp/support/status_code_enum.h>

namespace jarvis::controller {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

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

void InstrumentedAgentApi::observe(std::string_view method, Clock::time_point since,
                                   const Result<jarvis::v1::Execution>& result) {
  const double seconds = std::chrono::duration<double>(Clock::now() - since).count();
  metrics_.agent_rpc_duration.with({method, result ? "OK" : grpc_code_name(result.error().code)}).observe(seconds);
}

asio::awaitable<Result<jarvis::v1::Execution>> InstrumentedAgentApi::start(const std::string& address,
                                                                          jarvis::v1::StartRequest request,
                                                                          std::chrono::milliseconds deadline) {
  const auto since = Clock::now();
  auto result = co_await inner_.start(address, std::move(request), deadline);
  observe("Start", since, result);
  co_return result;
}

asio::awaitable<Result<jarvis::v1::Execution>> InstrumentedAgentApi::wait(const std::string& address,
                                                                         std::string execution_id,
                                                                         std::chrono::milliseconds max_wait,
                                                                         std::chrono::milliseconds deadline) {
  const auto since = Clock::now();
  auto result = co_await inner_.wait(address, std::move(execution_id), max_wait, deadline);
  observe("Wait", since, result);
  co_return result;
}

asio::awaitable<Result<jarvis::v1::Execution>> InstrumentedAgentApi::cancel(const std::string& address,
                                                                           std::string execution_id,
                                                                           std::chrono::milliseconds deadline) {
  const auto since = Clock::now();
  auto result = co_await inner_.cancel(address, std::move(execution_id), deadline);
  observe("Cancel", since, result);
  co_return result;
}

asio::awaitable<Status> InstrumentedCommandApi::write_status(const rapidjson::Value& object, const CommandMeta& meta,
                                                             const CommandStatus& status) {
  Status written = co_await inner_.write_status(object, meta, status);
  if (written) metrics_.status_writes.inc();
  else if (written.error().code == 409) metrics_.status_write_conflicts.inc();
  co_return written;
}

asio::awaitable<Status> InstrumentedCommandApi::set_finalizer(const CommandMeta& meta, bool present) {
  co_return co_await inner_.set_finalizer(meta, present);
}

asio::awaitable<Status> InstrumentedCommandApi::post_event(const CommandMeta& meta, const EventSpec& event) {
  Status posted = co_await inner_.post_event(meta, event);
  if (posted) metrics_.events_written.inc();
  else metrics_.events_failed.inc();
  co_return posted;
}

}  // namespace jarvis::controller
