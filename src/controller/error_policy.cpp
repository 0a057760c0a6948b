#include "controller/error_policy.hpp"

namespace jarvis::controller {

ReconcileResult on_write_failure(const Error& failure, std::string_view what, std::string_view key, Logger& log) {
  const int code = failure.code;
  if (code == 409) {
    log.debug("write conflicted; will re-read and decide again", {{"command", key}, {"write", what}});
    return ReconcileResult::after(kConflictRequeue);
  }
  if (code == 404 || code == 410) {
    log.debug("command is gone; nothing to write", {{"command", key}, {"write", what}});
    return ReconcileResult::done();
  }
  if (code == 400 || code == 422) {
    log.error("the API server refused the write; will retry with backoff",
              {{"command", key}, {"write", what}, {"error", failure.message}});
    return ReconcileResult::retry();
  }
  log.warn("could not " + std::string(what) + "; will retry with backoff",
           {{"command", key}, {"write", what}, {"error", failure.message}, {"http_status", code}});
  return ReconcileResult::retry();
}

}  // namespace jarvis::controller
