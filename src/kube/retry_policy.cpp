#include "kube/retry_policy.hpp"

namespace jarvis::kube {

bool is_retryable_status(unsigned status, std::string_view retry_after) {
  if (status == 429) return true;
  if (status == 502 || status == 503 || status == 504) return true;
  return status >= 500 && status < 600 && !retry_after.empty();
}

}  // namespace jarvis::kube
