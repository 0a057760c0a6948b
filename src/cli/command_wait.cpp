#include "cli/command_wait.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>

#include <algorithm>
#include <cctype>
#include <optional>

#include "cli/command_view.hpp"
#include "common/coro.hpp"
#include "common/json.hpp"
#include "kube/informer.hpp"

namespace jarvis::cli {

namespace asio = boost::asio;
using namespace boost::asio::experimental::awaitable_operators;

namespace {

enum class Decision { cancel, leave };

struct Followed {
  WaitEnd end;
  kube::Object object;
};

// Shared by the two halves of the wait (following, asking); one thread, no locks.
struct WaitState {
  kube::Object latest;
  bool prompting = false;
};

// Wakes the follower when the informer changes the Command; lives as long as the informer.
struct ChangeSignal {
  asio::steady_timer wake;
  bool changed = true;  // look at the store once it is synced
};

// Waits on the informer's store until the Command is final or gone.
asio::awaitable<Followed> until_finished(kube::Informer& informer, const std::string& key, ChangeSignal& signal,
                                          WaitState& state, ProgressView& progress) {
  Status synced = co_await informer.wait_synced();
  if (!synced) co_return Followed{WaitEnd::left_running, state.latest};
  for (;;) {
    if (!signal.changed) {
      signal.wake.expires_at(asio::steady_timer::time_point::max());
      auto [ec] = co_await signal.wake.async_wait(use_tuple);
      (void)ec;
    }
    if (is_cancelled(co_await asio::this_coro::cancellation_state)) co_return Followed{WaitEnd::left_running, state.latest};
    signal.changed = false;
    kube::Object object = informer.store().get(key);
    if (!object) co_return Followed{WaitEnd::deleted, state.latest};
    state.latest = object;
    CommandView view = read_command_view(*object);
    if (!state.prompting) progress.update(view);
    if (view.finished()) co_return Followed{WaitEnd::finished, object};
  }
}

asio::awaitable<Followed> follow(kube::Client& client, Logger& log, const std::string& ns, const std::string& name,
                                 WaitState& state, ProgressView& progress) {
  kube::InformerOptions options;
  options.min_watch_seconds = 240;
  options.max_watch_seconds = 300;
  kube::Informer informer(client, {commands_path(ns), "", "metadata.name=" + name}, log, options);
  ChangeSignal signal{asio::steady_timer(co_await asio::this_coro::executor), true};
  const std::string key = ns + "/" + name;
  informer.on_change([&signal, key](const std::string& changed) {
    if (changed != key) return;
    signal.changed = true;
    signal.wake.cancel();
  });
  auto ended = co_await (until_finished(informer, key, signal, state, progress) || informer.run());
  if (ended.index() == 0) co_return std::get<0>(ended);
  co_return Followed{WaitEnd::left_running, state.latest};  // the informer only ends when cancelled
}

// The first line typed on the terminal (or stdin); "" on end of file or when there is nothing to read.
asio::awaitable<std::string> read_answer() {
  auto ex = co_await asio::this_coro::executor;
  // A fresh /dev/tty keeps Asio's non-blocking mode off the shell's own stdin description.
  int fd = isatty(STDIN_FILENO) ? open("/dev/tty", O_RDONLY | O_CLOEXEC) : -1;
  if (fd < 0) fd = fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 0);
  if (fd < 0) co_return std::string{};
  asio::posix::stream_descriptor in(ex);
  boost::system::error_code ec;
  in.assign(fd, ec);
  if (ec) {  // e.g. a regular file or /dev/null: epoll refuses it; nobody can answer
    close(fd);
    co_return std::string{};
  }
  std::string line;
  char buffer[256];
  for (;;) {
    auto [read_ec, n] = co_await in.async_read_some(asio::buffer(buffer), use_tuple);
    line.append(buffer, n);
    if (read_ec || line.find('\n') != std::string::npos) break;
  }
  co_return line.substr(0, line.find('\n'));
}

asio::awaitable<void> second_interrupt(asio::signal_set& interrupts) {
  auto [ec, sig] = co_await interrupts.async_wait(use_tuple);
  (void)ec;
  (void)sig;
}

// Waits for Ctrl-C, then asks; returns the decision.
asio::awaitable<Decision> on_interrupt(asio::signal_set& interrupts, const std::string& what, WaitState& state,
                                       ProgressView& progress, std::FILE* prompt) {
  auto [ec, sig] = co_await interrupts.async_wait(use_tuple);
  (void)sig;
  if (ec) co_return Decision::leave;  // cancelled: the Command finished first
  state.prompting = true;
  progress.clear();
  std::fprintf(prompt,
               "\nInterrupted. Cancel %s (delete it; what still runs on the nodes is stopped)? [y/N] "
               "(Ctrl-C again leaves it running) ",
               what.c_str());
  std::fflush(prompt);
  auto answered = co_await (read_answer() || second_interrupt(interrupts));
  if (answered.index() == 1) {
    std::fputs("\n", prompt);
    co_return Decision::leave;
  }
  co_return answer_cancels(std::get<0>(answered)) ? Decision::cancel : Decision::leave;
}

}  // namespace

bool answer_cancels(std::string_view answer) {
  std::string word;
  for (char c : answer) {
    if (!std::isspace(static_cast<unsigned char>(c))) word += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return word == "y" || word == "yes" || word == "c" || word == "cancel" || word == "d" || word == "delete";
}

asio::awaitable<Result<WaitResult>> wait_for_command(kube::Client& client, Logger& log, const kube::Object& created,
                                                     ProgressView& progress, asio::signal_set& interrupts,
                                                     std::FILE* prompt) {
  CommandView first = read_command_view(*created);
  WaitState state{created, false};
  std::string what = "command " + first.ns + "/" + first.name;
  auto outcome = co_await (follow(client, log, first.ns, first.name, state, progress) ||
                           on_interrupt(interrupts, what, state, progress, prompt));
  progress.clear();
  if (outcome.index() == 0) {
    Followed followed = std::get<0>(outcome);
    co_return WaitResult{followed.end, followed.object ? followed.object : state.latest};
  }
  if (std::get<1>(outcome) == Decision::leave) co_return WaitResult{WaitEnd::left_running, state.latest};
  CommandClient commands(client);
  Status removed = co_await commands.remove(first.ns, first.name, first.uid);
  if (!removed) co_return removed.error();
  co_return WaitResult{WaitEnd::canceled, state.latest};
}

}  // namespace jarvis::cli
