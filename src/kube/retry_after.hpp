// The Retry-After header (RFC 9110 10.2.3): delay-seconds, or an HTTP-date. kube-apiserver's API Priority
// and Fairness sends seconds with its 429s; the date form is accepted for proxies in between.
#pragma once

#include <chrono>
#include <optional>
#include <string_view>

namespace jarvis::kube {

// The delay the header asks for, measured from `now`; never negative; nullopt when empty or malformed.
std::optional<std::chrono::seconds> parse_retry_after(std::string_view value,
                                                      std::chrono::system_clock::time_point now);

}  // namespace jarvis::kube
