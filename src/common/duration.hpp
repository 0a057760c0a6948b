// Durations on the command line, the way kubectl and Go tools write them: "90d", "2160h", "1h30m", "45s".
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace jarvis {

// Whole seconds from one or more <integer><unit> terms, unit one of d, h, m, s; nullopt for anything else
// (empty, no unit, negative, overflow).
std::optional<std::chrono::seconds> parse_duration(std::string_view text);

// The same with milliseconds, for short periods: units d, h, m, s and ms ("500ms", "1s500ms").
std::optional<std::chrono::milliseconds> parse_duration_ms(std::string_view text);

// "2160h0m0s"-free, shortest form: 90d -> "90d", 3600 s -> "1h", 90 s -> "1m30s".
std::string format_duration(std::chrono::seconds d);

}  // namespace jarvis
