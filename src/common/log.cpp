#include "common/log.hpp"

#include <chrono>

#include "common/json.hpp"
#include "common/time_format.hpp"

namespace jarvis {

std::optional<LogLevel> parse_log_level(std::string_view name) {
  if (name == "debug") return LogLevel::debug;
  if (name == "info") return LogLevel::info;
  if (name == "warn" || name == "warning") return LogLevel::warn;
  if (name == "error") return LogLevel::error;
  return std::nullopt;
}

std::string_view to_string(LogLevel level) {
  switch (level) {
    case LogLevel::debug: return "debug";
    case LogLevel::info: return "info";
    case LogLevel::warn: return "warn";
    case LogLevel::error: return "error";
  }
  return "info";
}

void Logger::log(LogLevel level, std::string_view msg, std::initializer_list<LogField> fields) {
  if (!enabled(level)) return;
  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  auto str = [&w](std::string_view s) { write_string(w, s); };
  w.StartObject();
  w.Key("time");
  str(rfc3339_micros(std::chrono::system_clock::now()));
  w.Key("level");
  str(to_string(level));
  w.Key("msg");
  str(msg);
  for (const auto& f : fields) {
    str(f.key);
    std::visit(
        [&](const auto& v) {
          using T = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<T, std::string_view>) str(v);
          else if constexpr (std::is_same_v<T, std::int64_t>) w.Int64(v);
          else if constexpr (std::is_same_v<T, std::uint64_t>) w.Uint64(v);
          else if constexpr (std::is_same_v<T, double>) w.Double(v);
          else w.Bool(v);
        },
        f.value);
  }
  w.EndObject();
  std::lock_guard lock(mu_);
  std::fwrite(buf.GetString(), 1, buf.GetSize(), out_);
  std::fputc('\n', out_);
  std::fflush(out_);
}

}  // namespace jarvis
