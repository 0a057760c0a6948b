// Leader election's decisions, no I/O (the loop that reads and writes the Lease is leader_elector.hpp).
// The rules are client-go's (k8s.io/client-go/tools/leaderelection), on a coordination.k8s.io/v1 Lease:
// - A candidate reads the Lease every retry period stretched by a random 0 to 1.2 times itself (client-go's
//   jitter). A Lease held by someone else counts as valid until the candidate has seen its record unchanged
//   for the record's own leaseDurationSeconds (the holder's flag, not ours), by the candidate's own monotonic
//   clock (so no clocks are compared across machines); an empty holder (released) can be taken at once.
// - Taking or renewing is an update conditional on the resourceVersion read: 409 means someone else won.
// - The leader may act only until its renew deadline, counted on its own monotonic clock from when it SENT its
//   last successful renewal. A standby waits at least the lease duration the leader wrote after it SAW that
//   renewal, which is later, and the leader's lease duration > its renew deadline: a leader that cannot renew
//   stops acting before anyone else can start, whatever flags the standby runs with (README, "Running two
//   replicas").
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include <rapidjson/document.h>

#include "common/result.hpp"

namespace jarvis::controller {

inline constexpr std::string_view leader_lease_name = "jarvis-controller";

struct LeaderElectionTiming {
  std::chrono::milliseconds lease_duration{15000};  // --leader-elect-lease-duration
  std::chrono::milliseconds renew_deadline{10000};  // --leader-elect-renew-deadline
  std::chrono::milliseconds retry_period{2000};     // --leader-elect-retry-period
};

// Why the timing is unsafe (naming the flags), or nullopt when lease duration > renew deadline > 1.2 x retry
// period, as client-go requires.
std::optional<std::string> timing_problem(const LeaderElectionTiming& t);

// The Lease's spec as read or to write. Times are MicroTime text, kept as written.
struct LeaseRecord {
  std::string holder;
  std::int64_t lease_duration_seconds = 0;
  std::string acquire_time;
  std::string renew_time;
  std::int64_t transitions = 0;

  bool operator==(const LeaseRecord&) const = default;
};

struct ObservedLease {
  LeaseRecord record;
  std::string resource_version;
};

// Reads a Lease object; an Error when it is not one.
Result<ObservedLease> parse_lease(const rapidjson::Value& lease);
// The Lease object to create (resource_version empty) or to replace (conditional on resource_version).
std::string lease_json(std::string_view namespace_name, std::string_view name, const LeaseRecord& record,
                       std::string_view resource_version);

// What a candidate remembers between two reads: the last record seen and when, on its monotonic clock, it
// last changed.
class LeaseObservation {
 public:
  void observe(const LeaseRecord& record, std::chrono::steady_clock::time_point now);
  std::chrono::steady_clock::time_point changed_at() const { return changed_at_; }

 private:
  std::optional<LeaseRecord> last_;
  std::chrono::steady_clock::time_point changed_at_{};
};

// What to do after reading the Lease (nullopt: it does not exist).
struct LeaseDecision {
  enum class Step {
    create,   // no Lease: create it holding it
    acquire,  // free or expired: take it over (write)
    renew,    // ours: renew it (write)
    wait,     // someone else holds it and it is still valid
  };
  Step step = Step::wait;
  LeaseRecord write;   // for create, acquire, renew
  std::string holder;  // for wait: who holds it
};

LeaseDecision decide(const std::optional<LeaseRecord>& current, const std::string& identity,
                     const LeaseObservation& observed, std::chrono::steady_clock::time_point now,
                     std::chrono::system_clock::time_point wall_now, const LeaderElectionTiming& timing);

// How long a candidate waits before its next try: the retry period stretched by up to 1.2 times itself, as
// client-go's wait.JitterUntil(..., JitterFactor 1.2), so candidates that started together spread out.
// `random01` is a draw in [0, 1).
std::chrono::milliseconds candidate_retry_wait(std::chrono::milliseconds retry_period, double random01);

// The record that hands the Lease over at once: holder cleared, the shortest duration (client-go's release).
LeaseRecord released(const LeaseRecord& held, std::chrono::system_clock::time_point wall_now);

// Whether this process may act as the leader now, on its monotonic clock: it leads, and its last successful
// renewal was sent less than the renew deadline ago.
class Leadership {
 public:
  explicit Leadership(std::chrono::milliseconds renew_deadline) : renew_deadline_(renew_deadline) {}
  // A write that took or renewed the Lease, sent at `sent_at`, succeeded.
  void renewed(std::chrono::steady_clock::time_point sent_at) {
    leading_ = true;
    valid_until_ = sent_at + renew_deadline_;
  }
  void lost() { leading_ = false; }
  bool leading() const { return leading_; }
  bool valid(std::chrono::steady_clock::time_point now) const { return leading_ && now < valid_until_; }
  std::chrono::steady_clock::time_point valid_until() const { return valid_until_; }

 private:
  std::chrono::milliseconds renew_deadline_;
  bool leading_ = false;
  std::chrono::steady_clock::time_point valid_until_{};
};

}  // namespace jarvis::controller
