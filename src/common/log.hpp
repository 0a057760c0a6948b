// Structured logging: one JSON object per line ({"time","level","msg",...fields}) so `kubectl logs` is
// readable by people and by machines. A Logger is created in main and passed down by reference.
#pragma once

#include <cstdint>
#include <cstdio>
#include <initializer_list>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace jarvis {

enum class LogLevel { debug = 0, info = 1, warn = 2, error = 3 };

std::optional<LogLevel> parse_log_level(std::string_view name);
std::string_view to_string(LogLevel level);

// One key/value pair of a log line. Strings are copied into the line, never kept.
struct LogField {
  using Value = std::variant<std::string_view, std::int64_t, std::uint64_t, double, bool>;
  std::string_view key;
  Value value;

  LogField(std::string_view k, std::string_view v) : key(k), value(v) {}
  LogField(std::string_view k, const std::string& v) : key(k), value(std::string_view(v)) {}
  LogField(std::string_view k, const char* v) : key(k), value(std::string_view(v)) {}
  LogField(std::string_view k, bool v) : key(k), value(v) {}
  LogField(std::string_view k, double v) : key(k), value(v) {}
  template <typename I>
    requires(std::is_integral_v<I> && std::is_signed_v<I> && !std::is_same_v<I, bool>)
  LogField(std::string_view k, I v) : key(k), value(static_cast<std::int64_t>(v)) {}
  template <typename I>
    requires(std::is_integral_v<I> && std::is_unsigned_v<I> && !std::is_same_v<I, bool>)
  LogField(std::string_view k, I v) : key(k), value(static_cast<std::uint64_t>(v)) {}
};

class Logger {
 public:
  // Writes to `out` (stdout in production). Thread-safe: each line is written whole.
  explicit Logger(LogLevel min_level, std::FILE* out = stdout) : min_level_(min_level), out_(out) {}
  Logger(const Logger&) = delete;
  Logger& operator=(const Logger&) = delete;

  bool enabled(LogLevel level) const { return level >= min_level_; }
  void log(LogLevel level, std::string_view msg, std::initializer_list<LogField> fields = {});

  void debug(std::string_view msg, std::initializer_list<LogField> fields = {}) { log(LogLevel::debug, msg, fields); }
  void info(std::string_view msg, std::initializer_list<LogField> fields = {}) { log(LogLevel::info, msg, fields); }
  void warn(std::string_view msg, std::initializer_list<LogField> fields = {}) { log(LogLevel::warn, msg, fields); }
  void error(std::string_view msg, std::initializer_list<LogField> fields = {}) { log(LogLevel::error, msg, fields); }

 private:
  LogLevel min_level_;
  std::FILE* out_;
  std::mutex mu_;
};

}  // namespace jarvis
