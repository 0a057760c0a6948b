// What `run` shows while it waits. On a terminal, one status line rewritten in place ("3/10 nodes done,
// 1 failed, 2 running"); elsewhere (a pipe, a file, CI logs) one plain line per node as it finishes.
#pragma once

#include <cstdio>
#include <memory>
#include <set>
#include <string>

#include "cli/command_view.hpp"

namespace jarvis::cli {

class ProgressView {
 public:
  virtual ~ProgressView() = default;
  virtual void update(const CommandView& view) = 0;
  // Before printing anything else (a question, the results): the status line is cleared.
  virtual void clear() = 0;
};

// "run-x7k2p: 2/3 nodes done, 1 failed, 1 running" (skipped and pending when there are some).
std::string progress_line(const CommandView& view);

// A plain line per node that finished since the last update: "kind-worker: Failed, exit code 3 (2/3 done)".
class PlainProgress : public ProgressView {
 public:
  explicit PlainProgress(std::FILE* out) : out_(out) {}
  void update(const CommandView& view) override;
  void clear() override {}

 private:
  std::FILE* out_;
  std::set<std::string> reported_;
};

class TerminalProgress : public ProgressView {
 public:
  explicit TerminalProgress(std::FILE* out) : out_(out) {}
  void update(const CommandView& view) override;
  void clear() override;

 private:
  std::FILE* out_;
  bool shown_ = false;
};

// TerminalProgress when `out` is a terminal, else PlainProgress.
std::unique_ptr<ProgressView> make_progress(std::FILE* out);

}  // namespace jarvis::cli
