#include "controller/instrumented_apis.hpp"

#include <grpcpp/support/status_code_enum.h>

#include "controller/agent_client.hpp"

namespace jarvis::controller {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

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
