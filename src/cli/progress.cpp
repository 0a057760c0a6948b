#include "cli/progress.hpp"

#include <unistd.h>

#include "cli/result_format.hpp"

namespace jarvis::cli {

std::string progress_line(const CommandView& view) {
  std::string line = view.name + ": ";
  if (view.phase.empty()) return line + "waiting for the controller";
  line += std::to_string(view.done()) + "/" + std::to_string(view.targeted) + " nodes done, " +
          std::to_string(view.failed) + " failed";
  if (view.skipped) line += ", " + std::to_string(view.skipped) + " skipped";
  if (view.running) line += ", " + std::to_string(view.running) + " running";
  if (view.pending) line += ", " + std::to_string(view.pending) + " pending";
  return line;
}

void PlainProgress::update(const CommandView& view) {
  for (const NodeResult& n : view.nodes) {
    if (!n.finished() || reported_.contains(n.name)) continue;
    reported_.insert(n.name);
    std::string outcome = describe_outcome(n.phase, n.exit_code, n.reason);
    std::fprintf(out_, "%s: %s (%zu/%d done)\n", n.name.c_str(), outcome.empty() ? "Succeeded" : outcome.c_str(),
                 reported_.size(), view.targeted);
  }
  std::fflush(out_);
}

void TerminalProgress::update(const CommandView& view) {
  std::fprintf(out_, "\r\033[K%s", progress_line(view).c_str());
  std::fflush(out_);
  shown_ = true;
}

void TerminalProgress::clear() {
  if (!shown_) return;
  std::fputs("\r\033[K", out_);
  std::fflush(out_);
  shown_ = false;
}

std::unique_ptr<ProgressView> make_progress(std::FILE* out) {
  if (isatty(fileno(out))) return std::make_unique<TerminalProgress>(out);
  return std::make_unique<PlainProgress>(out);
}

}  // namespace jarvis::cli
