// /readyz's view of the API server: a window of failures, not the last request.
#include <catch2/catch.hpp>

#include "controller/api_reachability.hpp"

using namespace jarvis::controller;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

TEST_CASE("one failed request among answered ones does not clear readiness", "[api_reachability]") {
  ApiReachability r(5s);
  const auto t0 = Clock::now();
  CHECK(r.problem(t0) == "the API server has not answered yet");
  r.observe(true, t0);
  CHECK_FALSE(r.problem(t0));
  r.observe(false, t0 + 1s);  // a reset connection, one timeout
  CHECK_FALSE(r.problem(t0 + 1s));
  CHECK_FALSE(r.problem(t0 + 5s));
  r.observe(true, t0 + 2s);
  CHECK_FALSE(r.problem(t0 + 30s));  // answered since: nothing is failing
}

TEST_CASE("failing without an answer for the whole window clears readiness until an answer", "[api_reachability]") {
  ApiReachability r(5s);
  const auto t0 = Clock::now();
  r.observe(true, t0);
  r.observe(false, t0 + 1s);
  r.observe(false, t0 + 3s);
  r.observe(false, t0 + 6s);
  const auto problem = r.problem(t0 + 6s);
  REQUIRE(problem);
  CHECK(*problem == "the API server has not answered for 5 s");
  r.observe(true, t0 + 7s);
  CHECK_FALSE(r.problem(t0 + 7s));
}
