// RFC 3339 timestamps in UTC, as Kubernetes writes them (metav1.Time: seconds; MicroTime: microseconds).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace jarvis {

std::string rfc3339(std::chrono::system_clock::time_point t);         // 2026-11-26T12:00:00Z
std::string rfc3339_micros(std::chrono::system_clock::time_point t);  // 2026-11-26T12:00:00.123456Z
std::string rfc3339_from_unix_ms(std::int64_t unix_ms);

// Reads "YYYY-MM-DDThh:mm:ss[.fraction]Z" (UTC, as Kubernetes writes times); nullopt for anything else.
// The fraction is kept to the millisecond.
std::optional<std::chrono::system_clock::time_point> parse_rfc3339(std::string_view text);

}  // namespace jarvis
