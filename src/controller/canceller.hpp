// Stops executions on their agents (a superseded generation, a deleted Command) and keeps asking until the
// agent acknowledges: a Cancel answered with any state is an acknowledgement (an agent that never saw the id
// records it as canceled, so a Start arriving later does not run it). An unreachable agent is asked again
// with capped backoff until `give_up_after`, by when the execution has ended on its own (its timeout).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <set>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/cancellation_signal.hpp>

#include "common/log.hpp"
#include "controller/agent_api.hpp"
#include "controller/plan.hpp"

namespace jarvis::controller {

struct CancelTiming {
  std::chrono::milliseconds rpc_deadline{5'000};
  std::chrono::milliseconds first_backoff{500};
  std::chrono::milliseconds max_backoff{10'000};
};

class Canceller {
 public:
  Canceller(boost::asio::any_io_executor executor, AgentApi& agents, CancelTiming timing, Logger& log);
  ~Canceller();
  Canceller(const Canceller&) = delete;
  Canceller& operator=(const Canceller&) = delete;

  // Sends every cancel in the background; `give_up_after` bounds how long one is retried.
  void cancel(const std::string& command_key, const std::vector<CancelOrder>& orders,
              std::chrono::milliseconds give_up_after);
  // The same, and resumes once every order got its first answer or failed once (at most one RPC deadline).
  boost::asio::awaitable<void> cancel_and_wait(const std::string& command_key, const std::vector<CancelOrder>& orders,
                                               std::chrono::milliseconds give_up_after);
  // Stops retrying (controller shutdown).
  void stop_all();
  // The Command is gone: forget which of its executions were canceled.
  void forget(const std::string& command_key) { canceled_.erase(command_key); }
  std::size_t pending() const { return tasks_.size(); }

 private:
  struct FirstAnswers;
  boost::asio::awaitable<void> cancel_one(std::string command_key, CancelOrder order,
                                          std::chrono::milliseconds give_up_after,
                                          std::shared_ptr<FirstAnswers> first);
  void spawn(const std::string& command_key, const CancelOrder& order, std::chrono::milliseconds give_up_after,
             std::shared_ptr<FirstAnswers> first);

  boost::asio::any_io_executor executor_;
  AgentApi& agents_;
  CancelTiming timing_;
  Logger& log_;
  std::map<std::string, std::shared_ptr<boost::asio::cancellation_signal>> tasks_;  // by execution id
  // Executions an agent confirmed canceled, by Command key: a later pass (a finalizer removal that conflicted
  // and is retried) does not cancel, nor log, them again.
  std::map<std::string, std::set<std::string>> canceled_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace jarvis::controller
