// JournalWorker: the thread on which the agent's journal does its disk work (writes, fdatasync, rewrites), so
// that a slow disk holds back only the calls that wait for their own record, never the event loop that
// relays every TLS byte and serves every gRPC call.
//
// Jobs run one at a time, in the order they were submitted, and are the only code that touches the
// ExecutionJournal once the worker exists. Each one resumes its caller (run) or calls its handler (submit)
// on the caller's executor, which it keeps from running out of work until then.
#pragma once

#include <exception>
#include <type_traits>
#include <utility>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "agent/execution_journal.hpp"

namespace jarvis::agent {

namespace asio = boost::asio;

class JournalWorker {
 public:
  explicit JournalWorker(ExecutionJournal& journal) : journal_(journal) {}
  // Waits for the jobs submitted to run (their completions are left to the caller's executor).
  ~JournalWorker() { pool_.join(); }
  JournalWorker(const JournalWorker&) = delete;
  JournalWorker& operator=(const JournalWorker&) = delete;

  // Runs `job(journal)` on the worker thread; the awaiting coroutine resumes on its own executor with the
  // result (an exception thrown by the job is rethrown there).
  template <typename Job>
  asio::awaitable<std::invoke_result_t<Job&, ExecutionJournal&>> run(Job job) {
    auto result = co_await asio::co_spawn(pool_.get_executor(), invoke(journal_, std::move(job)), asio::use_awaitable);
    co_return result;
  }

  // Runs `job(journal)` on the worker thread, then `handler(std::exception_ptr, result)` on the handler's
  // associated executor (bind it with asio::bind_executor).
  template <typename Job, typename Handler>
  void submit(Job job, Handler handler) {
    asio::co_spawn(pool_.get_executor(), invoke(journal_, std::move(job)), std::move(handler));
  }

 private:
  template <typename Job>
  static asio::awaitable<std::invoke_result_t<Job&, ExecutionJournal&>> invoke(ExecutionJournal& journal, Job job) {
    co_return job(journal);
  }

  ExecutionJournal& journal_;
  asio::thread_pool pool_{1};
};

}  // namespace jarvis::agent
