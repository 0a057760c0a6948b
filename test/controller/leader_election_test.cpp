// Leader election's decisions (leader_election.hpp): the timing rule, the Lease's JSON, and acquire / renew /
// wait from an observed Lease and the candidate's own clock.
#include <catch2/catch.hpp>

#include "common/json.hpp"
#include "controller/leader_election.hpp"

using namespace jarvis;
using namespace jarvis::controller;
using namespace std::chrono_literals;
using Step = LeaseDecision::Step;

namespace {

const auto t0 = std::chrono::steady_clock::time_point{} + 1000s;
const auto wall = std::chrono::system_clock::time_point{} + std::chrono::hours(24 * 365 * 50);

LeaseRecord held_by(std::string holder) {
  return LeaseRecord{std::move(holder), 15, "2026-11-29T10:00:00.000000Z", "2026-11-29T10:00:05.000000Z", 3};
}

}  // namespace

TEST_CASE("timing: lease duration > renew deadline > 1.2 x retry period, else the flags are named",
          "[leader]") {
  CHECK_FALSE(timing_problem(LeaderElectionTiming{}));  // client-go's defaults 15s/10s/2s
  CHECK_FALSE(timing_problem(LeaderElectionTiming{3000ms, 2000ms, 500ms}));
  const auto equal = timing_problem(LeaderElectionTiming{10s, 10s, 2s});
  REQUIRE(equal);
  CHECK_THAT(*equal, Catch::Contains("--leader-elect-lease-duration") &&
                         Catch::Contains("--leader-elect-renew-deadline"));
  const auto retry = timing_problem(LeaderElectionTiming{15s, 2400ms, 2s});  // 2.4 s is not > 1.2 x 2 s
  REQUIRE(retry);
  CHECK_THAT(*retry, Catch::Contains("--leader-elect-retry-period") && Catch::Contains("2400ms"));
  CHECK(timing_problem(LeaderElectionTiming{15s, 2401ms, 2s}) == std::nullopt);
  CHECK(timing_problem(LeaderElectionTiming{15s, 10s, 0ms}));
}

TEST_CASE("no Lease: create it holding it", "[leader]") {
  LeaseObservation seen;
  const auto d = decide(std::nullopt, "me", seen, t0, wall, LeaderElectionTiming{});
  CHECK(d.step == Step::create);
  CHECK(d.write.holder == "me");
  CHECK(d.write.lease_duration_seconds == 15);
  CHECK(d.write.transitions == 0);
  CHECK_FALSE(d.write.renew_time.empty());
}

TEST_CASE("someone else's Lease is valid until it has not changed for its lease duration on our clock",
          "[leader]") {
  LeaderElectionTiming timing{3000ms, 2000ms, 500ms};
  LeaseObservation seen;
  LeaseRecord other = held_by("other");
  other.lease_duration_seconds = 3;
  seen.observe(other, t0);
  CHECK(decide(other, "me", seen, t0, wall, timing).step == Step::wait);
  CHECK(decide(other, "me", seen, t0 + 2999ms, wall, timing).holder == "other");
  // Renewed by its holder: the clock starts again from when we saw the change.
  other.renew_time = "2026-11-29T10:00:07.000000Z";
  seen.observe(other, t0 + 2900ms);
  CHECK(decide(other, "me", seen, t0 + 4000ms, wall, timing).step == Step::wait);
  // Seen the same for the lease duration: expired, taken over, one more transition.
  seen.observe(other, t0 + 5000ms);  // unchanged: does not move the clock
  const auto d = decide(other, "me", seen, t0 + 5900ms, wall, timing);
  CHECK(d.step == Step::acquire);
  CHECK(d.write.holder == "me");
  CHECK(d.write.transitions == 4);
  CHECK(d.write.lease_duration_seconds == 3);
  CHECK(d.write.acquire_time == d.write.renew_time);
}

TEST_CASE("someone else's Lease is valid for the duration its record states, not for our flag (client-go)",
          "[leader]") {
  // A rolling update that shortens the timing flags: the standby runs with 3 s, the live leader wrote 15 s
  // and renews every 4 s, so the standby sees the record unchanged for up to 4 s between renewals.
  const LeaderElectionTiming standby{3000ms, 2000ms, 500ms};
  LeaseObservation seen;
  const LeaseRecord other = held_by("other");  // leaseDurationSeconds 15
  seen.observe(other, t0);
  CHECK(decide(other, "me", seen, t0 + 3500ms, wall, standby).step == Step::wait);
  CHECK(decide(other, "me", seen, t0 + 14999ms, wall, standby).step == Step::wait);
  const auto taken = decide(other, "me", seen, t0 + 15000ms, wall, standby);
  CHECK(taken.step == Step::acquire);
  CHECK(taken.write.lease_duration_seconds == 3);  // the new holder writes its own duration
  // The other way round: a leader that wrote 3 s is expired after 3 s even for a standby with 15 s.
  LeaseRecord short_lived = held_by("other");
  short_lived.lease_duration_seconds = 3;
  LeaseObservation seen_short;
  seen_short.observe(short_lived, t0);
  CHECK(decide(short_lived, "me", seen_short, t0 + 2999ms, wall, LeaderElectionTiming{}).step == Step::wait);
  CHECK(decide(short_lived, "me", seen_short, t0 + 3000ms, wall, LeaderElectionTiming{}).step == Step::acquire);
  // A record without a duration (not written by a client-go-like elector): our own flag, never "at once".
  LeaseRecord no_duration = held_by("other");
  no_duration.lease_duration_seconds = 0;
  LeaseObservation seen_none;
  seen_none.observe(no_duration, t0);
  CHECK(decide(no_duration, "me", seen_none, t0 + 2999ms, wall, standby).step == Step::wait);
  CHECK(decide(no_duration, "me", seen_none, t0 + 3000ms, wall, standby).step == Step::acquire);
}

TEST_CASE("a candidate's retry period is jittered as client-go's (factor 1.2), by the random draw it is given",
          "[leader]") {
  CHECK(candidate_retry_wait(2000ms, 0.0) == 2000ms);
  CHECK(candidate_retry_wait(2000ms, 0.5) == 3200ms);
  CHECK(candidate_retry_wait(2000ms, 0.999) > 4390ms);
  CHECK(candidate_retry_wait(2000ms, 0.999) < 4400ms);
  CHECK(candidate_retry_wait(500ms, 0.25) == 650ms);
}

TEST_CASE("a released Lease (no holder) is taken at once", "[leader]") {
  LeaseObservation seen;
  const LeaseRecord free = released(held_by("old"), wall);
  CHECK(free.holder.empty());
  CHECK(free.lease_duration_seconds == 1);
  seen.observe(free, t0);
  const auto d = decide(free, "me", seen, t0, wall, LeaderElectionTiming{});
  CHECK(d.step == Step::acquire);
  CHECK(d.write.transitions == 4);
}

TEST_CASE("our own Lease is renewed, keeping its acquire time and transitions", "[leader]") {
  LeaseObservation seen;
  const LeaseRecord mine = held_by("me");
  seen.observe(mine, t0);
  const auto d = decide(mine, "me", seen, t0 + 1h, wall, LeaderElectionTiming{});
  CHECK(d.step == Step::renew);
  CHECK(d.write.acquire_time == mine.acquire_time);
  CHECK(d.write.transitions == mine.transitions);
  CHECK(d.write.renew_time != mine.renew_time);
}

TEST_CASE("leadership is valid until the renew deadline after the last successful renewal was sent",
          "[leader]") {
  Leadership l(2000ms);
  CHECK_FALSE(l.valid(t0));
  l.renewed(t0);
  CHECK(l.valid(t0 + 1999ms));
  CHECK_FALSE(l.valid(t0 + 2000ms));  // e.g. woken by SIGCONT after a SIGSTOP: no more effects
  l.renewed(t0 + 1500ms);
  CHECK(l.valid(t0 + 3000ms));
  l.lost();
  CHECK_FALSE(l.valid(t0 + 1600ms));
  CHECK_FALSE(l.leading());
}

TEST_CASE("the Lease object round-trips through its JSON", "[leader]") {
  const LeaseRecord r = held_by("pod-a_1234abcd");
  const std::string text = lease_json("jarvis", "jarvis-controller", r, "42");
  auto doc = parse_json(text, "Lease");
  REQUIRE(doc);
  CHECK(string_at(*doc, {"apiVersion"}) == "coordination.k8s.io/v1");
  CHECK(string_at(*doc, {"metadata", "namespace"}) == "jarvis");
  const auto back = parse_lease(*doc);
  REQUIRE(back);
  CHECK(back->record == r);
  CHECK(back->resource_version == "42");
  // Created without a resourceVersion; a released holder is written as "".
  auto created = parse_json(lease_json("jarvis", "jarvis-controller", released(r, wall), ""), "Lease");
  REQUIRE(created);
  CHECK_FALSE(string_at(*created, {"metadata", "resourceVersion"}));
  CHECK(string_at(*created, {"spec", "holderIdentity"}) == "");
  CHECK_FALSE(parse_lease(*created));  // no resourceVersion: not a Lease read from the server
}
