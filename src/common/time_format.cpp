#include "common/time_format.hpp"

#include <cstdio>
#include <ctime>

namespace jarvis {

namespace {

std::string format(std::chrono::system_clock::time_point t, bool micros) {
  const auto secs = std::chrono::floor<std::chrono::seconds>(t);
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(t - secs).count();
  const std::time_t tt = std::chrono::system_clock::to_time_t(secs);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[96];
  if (micros) {
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", tm.tm_year + 1900, tm.tm_mon + 1,
                  tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<long long>(us));
  } else {
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                  tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  }
  return buf;
}

}  // namespace

std::string rfc3339(std::chrono::system_clock::time_point t) { return format(t, false); }
std::string rfc3339_micros(std::chrono::system_clock::time_point t) { return format(t, true); }
std::string rfc3339_from_unix_ms(std::int64_t unix_ms) {
  return format(std::chrono::system_clock::time_point(std::chrono::milliseconds(unix_ms)), false);
}

}  // namespace jarvis
