#include <catch2/catch.hpp>

#include <cstdio>
#include <string>

#include <rapidjson/document.h>

#include "common/duration.hpp"
#include "common/log.hpp"
#include "common/time_format.hpp"
#include "common/utf8.hpp"

using namespace jarvis;

TEST_CASE("valid_utf8 keeps valid text and replaces invalid bytes", "[utf8]") {
  CHECK(valid_utf8("plain ascii") == "plain ascii");
  CHECK(valid_utf8("❯ ok é") == "❯ ok é");
  CHECK(valid_utf8(std::string("a\xff" "b")) == "a\xEF\xBF\xBD" "b");
  CHECK(valid_utf8(std::string("\xC0\xAF")) == "\xEF\xBF\xBD\xEF\xBF\xBD");       // overlong
  CHECK(valid_utf8(std::string("\xED\xA0\x80")) == "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // surrogate
  CHECK(valid_utf8(std::string("x\xE2\x9D")) == "x\xEF\xBF\xBD\xEF\xBF\xBD");       // cut sequence
  CHECK(valid_utf8(std::string("\0z", 2)) == std::string("\0z", 2));
}

TEST_CASE("utf8_prefix never splits a sequence", "[utf8]") {
  const std::string s = "ab❯cd";  // ❯ is 3 bytes at offset 2
  CHECK(utf8_prefix(s, 100) == s);
  CHECK(utf8_prefix(s, 2) == "ab");
  CHECK(utf8_prefix(s, 3) == "ab");
  CHECK(utf8_prefix(s, 4) == "ab");
  CHECK(utf8_prefix(s, 5) == "ab❯");
}

TEST_CASE("rfc3339 formats UTC like Kubernetes", "[time]") {
  CHECK(rfc3339_from_unix_ms(0) == "1970-01-01T00:00:00Z");
  CHECK(rfc3339_from_unix_ms(1795694400123) == "2026-11-26T12:00:00Z");
  const auto t = std::chrono::system_clock::time_point(std::chrono::microseconds(1795694400123456));
  CHECK(rfc3339_micros(t) == "2026-11-26T12:00:00.123456Z");
}

TEST_CASE("Logger writes one JSON object per line and honours the level", "[log]") {
  std::FILE* f = std::tmpfile();
  REQUIRE(f);
  {
    Logger log(LogLevel::info, f);
    log.debug("hidden");
    log.info("execution finished", {{"id", "x1"}, {"exit", 3}, {"bytes", std::uint64_t{7}}, {"ok", false},
                                     {"out", std::string("bad\xff")}});
  }
  std::rewind(f);
  char buf[4096];
  std::string all;
  while (std::fgets(buf, sizeof buf, f)) all += buf;
  std::fclose(f);
  REQUIRE(all.find('\n') == all.size() - 1);  // exactly one line
  rapidjson::Document d;
  d.Parse(all.c_str());
  REQUIRE_FALSE(d.HasParseError());
  CHECK(std::string(d["level"].GetString()) == "info");
  CHECK(std::string(d["msg"].GetString()) == "execution finished");
  CHECK(d["exit"].GetInt() == 3);
  CHECK(d["bytes"].GetUint64() == 7);
  CHECK(d["ok"].GetBool() == false);
  CHECK(std::string(d["out"].GetString()) == "bad\xEF\xBF\xBD");
  CHECK(std::string(d["time"].GetString()).size() == std::string("2026-11-26T12:00:00.000000Z").size());
  CHECK(parse_log_level("warn") == LogLevel::warn);
  CHECK_FALSE(parse_log_level("loud").has_value());
}

TEST_CASE("durations are read like Go's: units d, h, m, s, combined", "[duration]") {
  using std::chrono::seconds;
  CHECK(parse_duration("45s") == seconds(45));
  CHECK(parse_duration("30m") == seconds(1800));
  CHECK(parse_duration("2160h") == seconds(2160 * 3600));
  CHECK(parse_duration("90d") == seconds(90 * 86400));
  CHECK(parse_duration("1h30m") == seconds(5400));
  CHECK(parse_duration("1d2h3m4s") == seconds(86400 + 7200 + 180 + 4));
  for (const char* bad : {"", "10", "h", "-5s", "5x", "1.5h", "5s ", " 5s", "99999999999999999999s", "1h30"})
    CHECK_FALSE(parse_duration(bad).has_value());
  CHECK(format_duration(seconds(90 * 86400)) == "90d");
  CHECK(format_duration(seconds(3600)) == "1h");
  CHECK(format_duration(seconds(90)) == "1m30s");
  CHECK(format_duration(seconds(0)) == "0s");
}

TEST_CASE("short durations add the unit ms", "[duration]") {
  using std::chrono::milliseconds;
  CHECK(parse_duration_ms("500ms") == milliseconds(500));
  CHECK(parse_duration_ms("2s") == milliseconds(2000));
  CHECK(parse_duration_ms("1s500ms") == milliseconds(1500));
  CHECK(parse_duration_ms("1m") == milliseconds(60000));
  for (const char* bad : {"", "10", "ms", "0.5s", "5x", "5mss"}) CHECK_FALSE(parse_duration_ms(bad).has_value());
  CHECK_FALSE(parse_duration("500ms").has_value());
}
