#include <catch2/catch.hpp>

#include <set>

#include "common/backoff.hpp"
#include "kube/retry_after.hpp"
#include "kube/retry_policy.hpp"

using namespace jarvis;
using namespace jarvis::kube;
using namespace std::chrono_literals;

TEST_CASE("Retry-After as delay-seconds") {
  auto now = std::chrono::system_clock::now();
  CHECK(parse_retry_after("1", now) == 1s);
  CHECK(parse_retry_after(" 120 ", now) == 120s);
  CHECK(parse_retry_after("0", now) == 0s);
}

TEST_CASE("Retry-After as an HTTP-date") {
  // Sun, 06 Nov 1994 08:49:37 GMT = 784111777
  auto date = std::chrono::system_clock::from_time_t(784111777);
  CHECK(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", date - 30s) == 30s);
  CHECK(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", date - 1500ms) == 2s);
  CHECK(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", date + 1h) == 0s);
}

TEST_CASE("a malformed or empty Retry-After is ignored") {
  auto now = std::chrono::system_clock::now();
  CHECK_FALSE(parse_retry_after("", now));
  CHECK_FALSE(parse_retry_after("soon", now));
  CHECK_FALSE(parse_retry_after("-1", now));
  CHECK_FALSE(parse_retry_after("1.5", now));
  CHECK_FALSE(parse_retry_after("Sun, 06 Nov 1994 08:49:37 PST", now));
}

TEST_CASE("which statuses are retried") {
  CHECK(is_retryable_status(429, ""));
  CHECK(is_retryable_status(503, ""));
  CHECK(is_retryable_status(504, ""));
  CHECK(is_retryable_status(502, ""));
  CHECK(is_retryable_status(500, "1"));
  CHECK_FALSE(is_retryable_status(500, ""));  // e.g. "etcdserver: request is too large": permanent
  for (unsigned status : {200u, 201u, 400u, 401u, 403u, 404u, 409u, 410u, 413u, 422u}) {
    CHECK_FALSE(is_retryable_status(status, "1"));
  }
}

TEST_CASE("backoff doubles within jitter bounds up to the cap and resets") {
  Backoff backoff(100ms, 1s, 42);
  std::chrono::milliseconds expected_full[] = {100ms, 200ms, 400ms, 800ms, 1s, 1s, 1s};
  for (auto full : expected_full) {
    auto d = backoff.next();
    CHECK(d >= full / 2);
    CHECK(d <= full);
  }
  CHECK(backoff.failures() == 7);
  backoff.reset();
  CHECK(backoff.next() <= 100ms);
}

TEST_CASE("backoff delays are jittered") {
  std::set<long> seen;
  for (std::uint64_t seed = 0; seed < 20; ++seed) seen.insert(Backoff(1s, 1s, seed).next().count());
  CHECK(seen.size() > 10);
}
