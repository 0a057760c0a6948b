#include "controller/canceller.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>

#include "common/backoff.hpp"
#include "common/coro.hpp"

namespace jarvis::controller {

namespace asio = boost::asio;

// Counts the orders still without a first answer; the timer wakes cancel_and_wait when none is left.
struct Canceller::FirstAnswers {
  explicit FirstAnswers(asio::any_io_executor ex) : all_done(ex, std::chrono::steady_clock::time_point::max()) {}
  void answered() {
    if (remaining > 0 && --remaining == 0) all_done.cancel();
  }
  std::size_t remaining = 0;
  asio::steady_timer all_done;
};

Canceller::Canceller(asio::any_io_executor executor, AgentApi& agents, CancelTiming timing, Logger& log)
    : executor_(std::move(executor)), agents_(agents), timing_(timing), log_(log) {}

Canceller::~Canceller() {
  *alive_ = false;
  stop_all();
}

asio::awaitable<void> Canceller::cancel_one(std::string command_key, CancelOrder order,
                                            std::chrono::milliseconds give_up_after,
                                            std::shared_ptr<FirstAnswers> first) {
  const auto cs = co_await asio::this_coro::cancellation_state;
  const auto deadline = std::chrono::steady_clock::now() + give_up_after;
  Backoff backoff(timing_.first_backoff, timing_.max_backoff);
  for (int attempt = 1;; ++attempt) {
    auto answer = co_await agents_.cancel(order.address, order.execution_id, timing_.rpc_deadline);
    if (first) {
      first->answered();
      first.reset();
    }
    if (is_cancelled(cs)) co_return;
    if (answer) {
      canceled_[command_key].insert(order.execution_id);
      log_.info("canceled execution", {{"command", command_key}, {"node", order.node},
                                       {"execution_id", order.execution_id}, {"agent", order.address},
                                       {"attempts", attempt}});
      co_return;
    }
    const bool retry = std::chrono::steady_clock::now() < deadline;
    log_.warn(retry ? "could not cancel execution; will retry" : "could not cancel execution; giving up",
              {{"command", command_key}, {"node", order.node}, {"execution_id", order.execution_id},
               {"agent", order.address}, {"attempts", attempt}, {"error", answer.error().message}});
    if (!retry) co_return;
    const bool slept = co_await sleep_for(backoff.next());
    if (!slept) co_return;
  }
}

void Canceller::spawn(const std::string& command_key, const CancelOrder& order,
                      std::chrono::milliseconds give_up_after, std::shared_ptr<FirstAnswers> first) {
  const auto done = canceled_.find(command_key);
  if (done != canceled_.end() && done->second.contains(order.execution_id)) {
    if (first) first->answered();
    return;
  }
  if (auto running = tasks_.find(order.execution_id); running != tasks_.end()) {
    // Already being canceled: that task keeps trying; the caller need not wait for it.
    if (first) first->answered();
    return;
  }
  auto signal = std::make_shared<asio::cancellation_signal>();
  tasks_[order.execution_id] = signal;
  asio::co_spawn(executor_, cancel_one(command_key, order, give_up_after, std::move(first)),
                 asio::bind_cancellation_slot(
                     signal->slot(), [this, alive = alive_, id = order.execution_id, signal](std::exception_ptr e) {
                       if (!*alive) return;
                       if (auto it = tasks_.find(id); it != tasks_.end() && it->second == signal) tasks_.erase(it);
                       if (e && !stopped_by_cancellation(e))
                         log_.error("cancel task failed", {{"execution_id", id}, {"error", describe(e)}});
                     }));
}

void Canceller::cancel(const std::string& command_key, const std::vector<CancelOrder>& orders,
                       std::chrono::milliseconds give_up_after) {
  for (const auto& order : orders) spawn(command_key, order, give_up_after, nullptr);
}

asio::awaitable<void> Canceller::cancel_and_wait(const std::string& command_key, const std::vector<CancelOrder>& orders,
                                                 std::chrono::milliseconds give_up_after) {
  if (orders.empty()) co_return;
  auto first = std::make_shared<FirstAnswers>(executor_);
  first->remaining = orders.size();
  for (const auto& order : orders) spawn(command_key, order, give_up_after, first);
  if (first->remaining > 0) co_await first->all_done.async_wait(use_tuple);
}

void Canceller::stop_all() {
  for (auto& [id, signal] : tasks_) signal->emit(asio::cancellation_type::terminal);
  tasks_.clear();
}

}  // namespace jarvis::controller
