// Decorators that measure the controller's two interfaces without touching the code behind them:
// InstrumentedAgentApi times every gRPC call to an agent (jarvis_agent_rpc_duration_seconds{method,code});
// InstrumentedCommandApi counts status writes, their 409 conflicts, and events written or failed.
#pragma once

#include "controller/agent_api.hpp"
#include "controller/command_api.hpp"
#include "controller/controller_metrics.hpp"

namespace jarvis::controller {

class InstrumentedAgentApi final : public AgentApi {
 public:
  InstrumentedAgentApi(AgentApi& inner, ControllerMetrics& metrics) : inner_(inner), metrics_(metrics) {}

  boost::asio::awaitable<Result<jarvis::v1::Execution>> start(const std::string& address,
                                                              jarvis::v1::StartRequest request,
                                                              std::chrono::milliseconds deadline) override;
  boost::asio::awaitable<Result<jarvis::v1::Execution>> wait(const std::string& address, std::string execution_id,
                                                             std::chrono::milliseconds max_wait,
                                                             std::chrono::milliseconds deadline) override;
  boost::asio::awaitable<Result<jarvis::v1::Execution>> cancel(const std::string& address, std::string execution_id,
                                                               std::chrono::milliseconds deadline) override;

 private:
  void observe(std::string_view method, std::chrono::steady_clock::time_point since,
               const Result<jarvis::v1::Execution>& result);
  AgentApi& inner_;
  ControllerMetrics& metrics_;
};

class InstrumentedCommandApi final : public CommandApi {
 public:
  InstrumentedCommandApi(CommandApi& inner, ControllerMetrics& metrics) : inner_(inner), metrics_(metrics) {}

  boost::asio::awaitable<Status> write_status(const rapidjson::Value& object, const CommandMeta& meta,
                                              const CommandStatus& status) override;
  boost::asio::awaitable<Status> set_finalizer(const CommandMeta& meta, bool present) override;
  boost::asio::awaitable<Status> post_event(const CommandMeta& meta, const EventSpec& event) override;
  // Reading and deleting a finished Command (ttlSecondsAfterFinished) are passed through uncounted.
  boost::asio::awaitable<Result<kube::Object>> read(const CommandMeta& meta) override {
    co_return co_await inner_.read(meta);
  }
  boost::asio::awaitable<Status> remove(const CommandMeta& meta) override { co_return co_await inner_.remove(meta); }

 private:
  CommandApi& inner_;
  ControllerMetrics& metrics_;
};


}  // namespace jarvis::controller
