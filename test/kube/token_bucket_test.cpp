#include <catch2/catch.hpp>

#include "kube/token_bucket.hpp"

using jarvis::kube::TokenBucket;
using namespace std::chrono_literals;

TEST_CASE("a full bucket lets a burst through, then paces at qps") {
  auto t0 = TokenBucket::Clock::time_point{} + 100s;
  TokenBucket bucket(10, 3, t0);
  CHECK(bucket.take(t0) == 0s);
  CHECK(bucket.take(t0) == 0s);
  CHECK(bucket.take(t0) == 0s);
  CHECK(bucket.take(t0) == 100ms);
  CHECK(bucket.take(t0) == 200ms);  // callers queue up behind each other
}

TEST_CASE("tokens come back at qps, up to the burst") {
  auto t0 = TokenBucket::Clock::time_point{} + 100s;
  TokenBucket bucket(10, 2, t0);
  (void)bucket.take(t0);
  (void)bucket.take(t0);
  CHECK(bucket.take(t0 + 100ms) == 0s);
  CHECK(bucket.take(t0 + 100ms) == 100ms);
  // A long pause refills only up to the burst.
  auto later = t0 + 1h;
  CHECK(bucket.take(later) == 0s);
  CHECK(bucket.take(later) == 0s);
  CHECK(bucket.take(later) == 100ms);
}

TEST_CASE("qps <= 0 means no client-side limit") {
  auto t0 = TokenBucket::Clock::time_point{};
  TokenBucket bucket(0, 1, t0);
  for (int i = 0; i < 1000; ++i) REQUIRE(bucket.take(t0) == 0s);
}
