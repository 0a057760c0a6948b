#include "common/duration.hpp"

#include <cstdint>
#include <limits>

namespace jarvis {

namespace {

// <integer><unit> terms summed in milliseconds; "ms" is read only when allowed.
std::optional<std::int64_t> parse_millis(std::string_view text, bool allow_ms) {
  if (text.empty()) return std::nullopt;
  std::int64_t total = 0;
  std::size_t i = 0;
  while (i < text.size()) {
    std::int64_t number = 0;
    const std::size_t digits_start = i;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      if (number > (std::numeric_limits<std::int64_t>::max() - 9) / 10) return std::nullopt;
      number = number * 10 + (text[i] - '0');
      ++i;
    }
    if (i == digits_start || i == text.size()) return std::nullopt;
    std::int64_t unit = 0;
    if (allow_ms && text.substr(i, 2) == "ms") {
      unit = 1;
      ++i;
    } else {
      switch (text[i]) {
        case 'd': unit = 86400'000; break;
        case 'h': unit = 3600'000; break;
        case 'm': unit = 60'000; break;
        case 's': unit = 1000; break;
        default: return std::nullopt;
      }
    }
    ++i;
    if (number > (std::numeric_limits<std::int64_t>::max() - total) / unit) return std::nullopt;
    total += number * unit;
  }
  return total;
}

}  // namespace

std::optional<std::chrono::seconds> parse_duration(std::string_view text) {
  const auto ms = parse_millis(text, false);
  if (!ms) return std::nullopt;
  return std::chrono::seconds(*ms / 1000);
}

std::optional<std::chrono::milliseconds> parse_duration_ms(std::string_view text) {
  const auto ms = parse_millis(text, true);
  if (!ms) return std::nullopt;
  return std::chrono::milliseconds(*ms);
}

std::string format_duration(std::chrono::seconds d) {
  std::int64_t s = d.count();
  if (s <= 0) return "0s";
  std::string out;
  for (const auto& [unit, suffix] : {std::pair{std::int64_t{86400}, 'd'}, std::pair{std::int64_t{3600}, 'h'},
                                     std::pair{std::int64_t{60}, 'm'}, std::pair{std::int64_t{1}, 's'}}) {
    if (s >= unit) {
      out += std::to_string(s / unit);
      out += suffix;
      s %= unit;
    }
  }
  return out;
}

}  // namespace jarvis
