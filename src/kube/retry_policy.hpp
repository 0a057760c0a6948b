// Which answers deserve another try. 429 always (API Priority and Fairness rejecting under load). 5xx when
// the server says when to come back (Retry-After, as client-go requires), and 502/503/504 always: they come
// from a server that is starting, stopping or overloaded. A 500 without Retry-After is not retried: the API
// server answers that way to permanent failures such as "etcdserver: request is too large".
#pragma once

#include <chrono>
#include <string_view>

namespace jarvis::kube {

bool is_retryable_status(unsigned status, std::string_view retry_after);

// Longest wait honoured from a Retry-After header; a server asking for more gets retried after this.
inline constexpr std::chrono::seconds kMaxRetryAfter{60};

}  // namespace jarvis::kube
