// The fence of a leader that may have been deposed: every write to the API server (status, finalizer, event)
// and every Start or Cancel sent to an agent first asks whether this process may still act as the leader
// (LeaderElector::may_act(): leading and within its renew deadline, on its monotonic clock). A process that
// slept past its deadline (SIGSTOP, a stalled machine) wakes up refused, before its first effect.
// Decorators over the two interfaces the reconciler uses, so the reconciler itself knows nothing of leaders.
#pragma once

#include <functional>
#include <utility>

#include <grpcpp/support/status_code_enum.h>

#include "controller/agent_api.hpp"
#include "controller/command_api.hpp"

namespace jarvis::controller {

using MayAct = std::function<bool()>;

inline Error not_leading_error() {
  return Error{"not the leader (leader lease not renewed within --leader-elect-renew-deadline); nothing written", 0};
}

class LeaderOnlyCommandApi final : public CommandApi {
 public:
  LeaderOnlyCommandApi(CommandApi& inner, MayAct may_act) : inner_(inner), may_act_(std::move(may_act)) {}

  boost::asio::awaitable<Status> write_status(const rapidjson::Value& object, const CommandMeta& meta,
                                              const CommandStatus& status) override {
    if (!may_act_()) co_return not_leading_error();
    co_return co_await inner_.write_status(object, meta, status);
  }
  boost::asio::awaitable<Status> set_finalizer(const CommandMeta& meta, bool present) override {
    if (!may_act_()) co_return not_leading_error();
    co_return co_await inner_.set_finalizer(meta, present);
  }
  boost::asio::awaitable<Status> post_event(const CommandMeta& meta, const EventSpec& event) override {
    if (!may_act_()) co_return not_leading_error();
    co_return co_await inner_.post_event(meta, event);
  }
  // A read changes nothing: a standby may read (the deletion that follows it is fenced).
  boost::asio::awaitable<Result<kube::Object>> read(const CommandMeta& meta) override {
    co_return co_await inner_.read(meta);
  }
  boost::asio::awaitable<Status> remove(const CommandMeta& meta) override {
    if (!may_act_()) co_return not_leading_error();
    co_return co_await inner_.remove(meta);
  }

 private:
  CommandApi& inner_;
  MayAct may_act_;
};

// Start and Cancel are refused with UNAVAILABLE (a transient error: the tracker retries, and the process exits
// before its retries run out); Wait only reads and passes.
class LeaderOnlyAgentApi final : public AgentApi {
 public:
  LeaderOnlyAgentApi(AgentApi& inner, MayAct may_act) : inner_(inner), may_act_(std::move(may_act)) {}

  boost::asio::awaitable<Result<jarvis::v1::Execution>> start(const std::string& address,
                                                              jarvis::v1::StartRequest request,
                                                              std::chrono::milliseconds deadline) override {
    if (!may_act_()) co_return refused();
    co_return co_await inner_.start(address, std::move(request), deadline);
  }
  boost::asio::awaitable<Result<jarvis::v1::Execution>> wait(const std::string& address, std::string execution_id,
                                                             std::chrono::milliseconds max_wait,
                                                             std::chrono::milliseconds deadline) override {
    co_return co_await inner_.wait(address, std::move(execution_id), max_wait, deadline);
  }
  boost::asio::awaitable<Result<jarvis::v1::Execution>> cancel(const std::string& address, std::string execution_id,
                                                               std::chrono::milliseconds deadline) override {
    if (!may_act_()) co_return refused();
    co_return co_await inner_.cancel(address, std::move(execution_id), deadline);
  }

 private:
  static Error refused() {
    return Error{"not the leader (leader lease not renewed within --leader-elect-renew-deadline); not sent",
                 grpc::StatusCode::UNAVAILABLE};
  }
  AgentApi& inner_;
  MayAct may_act_;
};

}  // namespace jarvis::controller
