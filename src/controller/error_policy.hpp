// What a reconcile asks of the work queue, and the one rule for what a failed API write means, applied to
// every write the reconciler makes (status, finalizer):
//   409 Conflict          the decision was made on a stale cache: re-read shortly (250 ms) and decide again;
//   404 NotFound, 410     the Command is gone: nothing to do (its deletion event forgets it);
//   400, 422 Invalid      the server refuses what we wrote: an error naming the Command, retried with backoff
//                         (the next change of the object is reconciled anyway);
//   401, 403              not allowed (RBAC, or an API server still loading its authorization after a
//                         restart): a warning, retried with backoff;
//   429, 5xx, no answer   the client already retried with Retry-After/backoff: a warning, retried with backoff.
#pragma once

#include <chrono>
#include <string_view>

#include "common/log.hpp"
#include "common/result.hpp"

namespace jarvis::controller {

struct ReconcileResult {
  enum class Kind { done, requeue_after, retry } kind = Kind::done;
  std::chrono::milliseconds delay{0};
  // The Command cannot be reconciled until it changes (malformed metadata): not retried, but counted in
  // controller_runtime_terminal_reconcile_errors_total, as controller-runtime counts a TerminalError.
  bool terminal_error = false;
  static ReconcileResult done() { return {}; }
  static ReconcileResult terminal() { return {Kind::done, {}, true}; }
  static ReconcileResult after(std::chrono::milliseconds d) { return {Kind::requeue_after, d, false}; }
  static ReconcileResult retry() { return {Kind::retry, {}, false}; }
  bool operator==(const ReconcileResult&) const = default;
};

inline constexpr std::chrono::milliseconds kConflictRequeue{250};

// `failure` of the write `what` ("write status", "remove finalizer") for the Command `key`: logs it at the
// level above and says how to requeue. `failure.code` is the HTTP status, 0 when no answer came.
ReconcileResult on_write_failure(const Error& failure, std::string_view what, std::string_view key, Logger& log);

}  // namespace jarvis::controller
