#include "controller/work_queue.hpp"

#include <algorithm>
#include <deque>
#include <map>
#include <set>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "common/backoff.hpp"
#include "common/coro.hpp"

namespace jarvis::controller {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

std::chrono::milliseconds backoff_delay(const RetryBackoff& backoff, int failures) {
  return capped_exponential(backoff.base, backoff.cap, failures);
}

struct WorkQueue::State : std::enable_shared_from_this<WorkQueue::State> {
  State(asio::any_io_executor executor, RetryBackoff retry, WorkQueueMetrics* m)
      : backoff(retry), metrics(m), wakeup(executor, Clock::time_point::max()), delay_timer(executor) {}

  RetryBackoff backoff;
  WorkQueueMetrics* metrics;  // optional
  std::unordered_map<std::string, Clock::time_point> queued_at;   // kept with metrics only
  std::unordered_map<std::string, Clock::time_point> started_at;  // kept with metrics only
  std::deque<std::string> queue;
  std::unordered_set<std::string> dirty;       // queued, or re-added while processing
  std::unordered_set<std::string> processing;  // handed out, done() not yet called
  std::map<std::string, Clock::time_point> due_by_key;
  std::set<std::pair<Clock::time_point, std::string>> due;  // the same entries, soonest first
  std::unordered_map<std::string, int> failure_counts;
  bool shutting_down = false;
  // Never expires: get() waits on it and add() cancels it to wake the waiters (a condition variable).
  asio::steady_timer wakeup;
  asio::steady_timer delay_timer;

  void add(const std::string& key) {
    if (shutting_down || dirty.contains(key)) return;
    dirty.insert(key);
    if (metrics) metrics->adds.inc();
    if (processing.contains(key)) return;
    push(key);
  }

  void push(const std::string& key) {
    queue.push_back(key);
    if (metrics) {
      metrics->depth.set(static_cast<double>(queue.size()));
      queued_at.emplace(key, Clock::now());
    }
    wakeup.cancel();
  }

  void handed_out(const std::string& key) {
    if (!metrics) return;
    const auto now = Clock::now();
    metrics->depth.set(static_cast<double>(queue.size()));
    if (const auto it = queued_at.find(key); it != queued_at.end()) {
      metrics->queue_duration.observe(std::chrono::duration<double>(now - it->second).count());
      queued_at.erase(it);
    }
    started_at[key] = now;
  }

  void finished(const std::string& key) {
    if (!metrics) return;
    if (const auto it = started_at.find(key); it != started_at.end()) {
      metrics->work_duration.observe(std::chrono::duration<double>(Clock::now() - it->second).count());
      started_at.erase(it);
    }
  }

  void add_after(const std::string& key, Clock::duration delay) {
    if (shutting_down) return;
    if (delay <= Clock::duration::zero()) {
      add(key);
      return;
    }
    const auto when = Clock::now() + delay;
    if (const auto it = due_by_key.find(key); it != due_by_key.end()) {
      if (it->second <= when) return;
      due.erase({it->second, key});
      it->second = when;
    } else {
      due_by_key.emplace(key, when);
    }
    due.emplace(when, key);
    arm_delay_timer();
  }

  void promote_due_keys() {
    const auto now = Clock::now();
    while (!due.empty() && due.begin()->first <= now) {
      std::string key = due.begin()->second;
      due.erase(due.begin());
      due_by_key.erase(key);
      add(key);
    }
  }

  // One wait on the soonest entry. Re-arming cancels the previous wait, whose handler then does nothing.
  void arm_delay_timer() {
    if (due.empty() || shutting_down) return;
    delay_timer.expires_at(due.begin()->first);
    delay_timer.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
      const auto self = weak.lock();
      if (!self || ec == asio::error::operation_aborted) return;
      self->promote_due_keys();
      self->arm_delay_timer();
    });
  }

  void shut_down() {
    shutting_down = true;
    if (metrics) metrics->depth.set(0);
    due.clear();
    due_by_key.clear();
    delay_timer.cancel();
    wakeup.cancel();
  }
};

WorkQueue::WorkQueue(asio::any_io_executor executor, RetryBackoff backoff, WorkQueueMetrics* metrics)
    : state_(std::make_shared<State>(std::move(executor), backoff, metrics)) {}

WorkQueue::~WorkQueue() { state_->shut_down(); }

void WorkQueue::add(const std::string& key) { state_->add(key); }

void WorkQueue::add_after(const std::string& key, std::chrono::steady_clock::duration delay) {
  state_->add_after(key, delay);
}

void WorkQueue::add_rate_limited(const std::string& key) {
  if (state_->shutting_down) return;
  if (state_->metrics) state_->metrics->retries.inc();
  int& failures = state_->failure_counts[key];
  const auto delay = backoff_delay(state_->backoff, failures);
  ++failures;
  state_->add_after(key, delay);
}

void WorkQueue::forget(const std::string& key) { state_->failure_counts.erase(key); }

int WorkQueue::failures(const std::string& key) const {
  const auto it = state_->failure_counts.find(key);
  return it == state_->failure_counts.end() ? 0 : it->second;
}

asio::awaitable<std::optional<std::string>> WorkQueue::get() {
  const std::shared_ptr<State> state = state_;
  while (true) {
    if (state->shutting_down) co_return std::nullopt;
    if (!state->queue.empty()) {
      std::string key = std::move(state->queue.front());
      state->queue.pop_front();
      state->processing.insert(key);
      state->dirty.erase(key);
      state->handed_out(key);
      co_return key;
    }
    co_await state->wakeup.async_wait(asio::as_tuple(asio::use_awaitable));
    const auto cancellation = co_await asio::this_coro::cancellation_state;
    if (is_cancelled(cancellation)) co_return std::nullopt;
  }
}

void WorkQueue::done(const std::string& key) {
  auto& s = *state_;
  s.processing.erase(key);
  s.finished(key);
  if (s.dirty.contains(key) && !s.shutting_down) s.push(key);
}

void WorkQueue::update_unfinished_work() {
  auto& s = *state_;
  if (!s.metrics) return;
  const auto now = Clock::now();
  double total = 0;
  double longest = 0;
  for (const auto& [key, started] : s.started_at) {
    const double running = std::chrono::duration<double>(now - started).count();
    total += running;
    longest = std::max(longest, running);
  }
  s.metrics->unfinished_work.set(total);
  s.metrics->longest_running_processor.set(longest);
}

void WorkQueue::shut_down() { state_->shut_down(); }
bool WorkQueue::shutting_down() const { return state_->shutting_down; }
std::size_t WorkQueue::ready() const { return state_->queue.size(); }
std::size_t WorkQueue::waiting() const { return state_->due.size(); }

}  // namespace jarvis::controller
