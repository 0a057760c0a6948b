// The log rate limiter and the routing of gRPC's and protobuf's lines through the JSON logger.
#include <catch2/catch.hpp>

#include <cstdio>
#include <string>
#include <vector>

#include <grpc/grpc.h>
#include <grpc/support/log.h>
#include <rapidjson/document.h>

#include "common/log.hpp"
#include "common/log_rate_limiter.hpp"
#include "observability/library_log_sink.hpp"

using namespace jarvis;
using namespace std::chrono_literals;

namespace {

// What a Logger wrote to a temporary file, one parsed JSON object per line.
struct CapturedLog {
  std::FILE* file = std::tmpfile();
  Logger log{LogLevel::info, file};
  ~CapturedLog() { std::fclose(file); }
  std::vector<rapidjson::Document> lines() {
    std::fflush(file);
    std::rewind(file);
    std::vector<rapidjson::Document> out;
    char buf[8192];
    while (std::fgets(buf, sizeof buf, file)) {
      rapidjson::Document d;
      d.Parse(buf);
      REQUIRE_FALSE(d.HasParseError());
      out.push_back(std::move(d));
    }
    return out;
  }
};

}  // namespace

TEST_CASE("the rate limiter lets a few lines per window through and counts the rest", "[log]") {
  LogRateLimiter limiter(2, 10s, 3);
  const auto t0 = std::chrono::steady_clock::time_point{} + 1h;
  CHECK(limiter.admit("a", t0).write);
  CHECK(limiter.admit("a", t0 + 1s).write);
  CHECK_FALSE(limiter.admit("a", t0 + 2s).write);
  CHECK_FALSE(limiter.admit("a", t0 + 3s).write);
  CHECK(limiter.admit("b", t0 + 3s).write);  // another key has its own budget
  const auto next = limiter.admit("a", t0 + 11s);
  CHECK(next.write);
  CHECK(next.suppressed == 2);
  CHECK(limiter.admit("a", t0 + 12s).suppressed == 0);
}

TEST_CASE("the rate limiter's memory is bounded whatever the number of keys", "[log]") {
  LogRateLimiter limiter(1, 60s, 2);
  const auto t0 = std::chrono::steady_clock::time_point{} + 1h;
  CHECK(limiter.admit("peer-1", t0).write);
  CHECK(limiter.admit("peer-2", t0).write);
  // Beyond max_keys every new key shares one budget: one line, then silence for the window.
  CHECK(limiter.admit("peer-3", t0).write);
  CHECK_FALSE(limiter.admit("peer-4", t0).write);
  CHECK_FALSE(limiter.admit("peer-5", t0).write);
}

TEST_CASE("gRPC's own lines become JSON lines with a level; they and refusals are rate-limited", "[log]") {
  CapturedLog captured;
  grpc_init();  // gpr_log drops everything before gRPC is initialised
  {
    observability::LibraryLogSink sink(captured.log, "refused a TLS connection");
    int refused = 0;
    sink.set_on_refused([&](std::string_view) { ++refused; });
    for (int i = 0; i < 30; ++i) {
      sink.refused("no client certificate", "error:0A0000C7:SSL routines::peer did not return a certificate",
                   "10.0.0.9:" + std::to_string(40000 + i), "openssl", "agent TLS handshake");
    }
    for (int i = 0; i < 25; ++i) gpr_log(__FILE__, 88, GPR_LOG_SEVERITY_ERROR, "some repeated gRPC error %d", i);
    gpr_log(__FILE__, 99, GPR_LOG_SEVERITY_DEBUG, "%s", "below --log-level: dropped");
    CHECK(refused == 30);
  }
  grpc_shutdown();
  const auto lines = captured.lines();
  std::size_t audits = 0, errors = 0;
  for (const auto& line : lines) {
    const std::string msg = line["msg"].GetString();
    if (msg == "refused a TLS connection") {
      ++audits;
      CHECK(std::string(line["level"].GetString()) == "warn");
      CHECK(std::string(line["reason"].GetString()) == "no client certificate");
      CHECK(line.HasMember("peer"));
    } else {
      ++errors;
      CHECK(std::string(line["level"].GetString()) == "error");
      CHECK(std::string(line["source"].GetString()) == "grpc");
      CHECK(std::string(line["location"].GetString()) == "log_test.cpp:88");
    }
  }
  CHECK(audits == 10);  // 10 per client address (not port) and reason per minute
  CHECK(errors == 20);  // 20 per location per minute
}

TEST_CASE("a refusal is one audit line and one count, with the peer", "[log]") {
  CapturedLog captured;
  {
    observability::LibraryLogSink sink(captured.log, "refused a TLS connection");
    std::vector<std::string> counted;
    sink.set_on_refused([&](std::string_view reason) { counted.emplace_back(reason); });
    sink.refused("wrong identity (the certificate does not name the expected peer)",
                 "certificate verification: hostname mismatch (client certificate: CN=jarvis-admin)",
                 "127.0.0.1:40312", "openssl", "agent TLS handshake");
    CHECK(counted == std::vector<std::string>{"wrong identity (the certificate does not name the expected peer)"});
  }
  const auto lines = captured.lines();
  REQUIRE(lines.size() == 1);
  CHECK(std::string(lines[0]["msg"].GetString()) == "refused a TLS connection");
  CHECK(std::string(lines[0]["level"].GetString()) == "warn");
  CHECK(std::string(lines[0]["peer"].GetString()) == "127.0.0.1:40312");
  CHECK(std::string(lines[0]["detail"].GetString()).find("CN=jarvis-admin") != std::string::npos);
}

TEST_CASE("the peer's address without its port", "[log]") {
  using observability::peer_host;
  CHECK(peer_host("127.0.0.1:40312") == "127.0.0.1");
  CHECK(peer_host("[::1]:40312") == "::1");
  CHECK(peer_host("[2001:db8::7]:50051") == "2001:db8::7");
  CHECK(peer_host("10.0.0.7") == "10.0.0.7");
  CHECK(peer_host("::1") == "::1");
}

TEST_CASE("refusals are rate-limited per peer address and reason, whatever the client's port", "[log]") {
  CapturedLog captured;
  const std::string plaintext = "plaintext (not TLS)";
  int counted = 0;
  {
    observability::LibraryLogSink sink(captured.log, "refused a TLS connection");
    sink.set_on_refused([&](std::string_view) { ++counted; });
    // One client reconnecting in a loop: a new port each time.
    for (int i = 0; i < 15; ++i) sink.refused(plaintext, "GET /", "127.0.0.9:" + std::to_string(40000 + i), "openssl");
    // Another client is not silenced by the first; nor is another reason from the first.
    sink.refused(plaintext, "GET /", "127.0.0.10:50000", "openssl");
    sink.refused("no client certificate", "", "127.0.0.9:41000", "openssl");
  }
  CHECK(counted == 17);  // every refusal is counted in the metric
  std::size_t from_first = 0, from_second = 0, other_reason = 0;
  for (const auto& line : captured.lines()) {
    const std::string peer = line["peer"].GetString();
    const std::string reason = line["reason"].GetString();
    if (peer.starts_with("127.0.0.9:") && reason == plaintext) ++from_first;
    if (peer == "127.0.0.10:50000") ++from_second;
    if (peer == "127.0.0.9:41000") ++other_reason;
  }
  CHECK(from_first == 10);
  CHECK(from_second == 1);
  CHECK(other_reason == 1);
}
