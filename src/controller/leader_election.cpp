#include "controller/leader_election.hpp"

#include <algorithm>

#include "common/json.hpp"
#include "common/time_format.hpp"

namespace jarvis::controller {

namespace {

std::string show(std::chrono::milliseconds d) {
  if (d.count() % 1000 == 0) return std::to_string(d.count() / 1000) + "s";
  return std::to_string(d.count()) + "ms";
}

std::int64_t whole_seconds_up(std::chrono::milliseconds d) {
  return std::max<std::int64_t>(1, (d.count() + 999) / 1000);
}

}  // namespace

std::optional<std::string> timing_problem(const LeaderElectionTiming& t) {
  if (t.retry_period <= std::chrono::milliseconds::zero())
    return "--leader-elect-retry-period must be positive (is " + show(t.retry_period) + ")";
  if (t.lease_duration <= t.renew_deadline)
    return "--leader-elect-lease-duration (" + show(t.lease_duration) +
           ") must be greater than --leader-elect-renew-deadline (" + show(t.renew_deadline) +
           "): a standby could take the Lease while the leader still acts";
  if (t.renew_deadline * 10 <= t.retry_period * 12)
    return "--leader-elect-renew-deadline (" + show(t.renew_deadline) +
           ") must be greater than 1.2 x --leader-elect-retry-period (" + show(t.retry_period) +
           "): the leader needs more than one try to renew";
  return std::nullopt;
}

Result<ObservedLease> parse_lease(const rapidjson::Value& lease) {
  const auto rv = string_at(lease, {"metadata", "resourceVersion"});
  if (!rv) return Error{"the Lease has no metadata.resourceVersion"};
  ObservedLease o;
  o.resource_version = std::string(*rv);
  o.record.holder = std::string(string_at(lease, {"spec", "holderIdentity"}).value_or(""));
  o.record.lease_duration_seconds = int_at(lease, {"spec", "leaseDurationSeconds"}).value_or(0);
  o.record.acquire_time = std::string(string_at(lease, {"spec", "acquireTime"}).value_or(""));
  o.record.renew_time = std::string(string_at(lease, {"spec", "renewTime"}).value_or(""));
  o.record.transitions = int_at(lease, {"spec", "leaseTransitions"}).value_or(0);
  return o;
}

std::string lease_json(std::string_view namespace_name, std::string_view name, const LeaseRecord& r,
                       std::string_view resource_version) {
  rapidjson::StringBuffer buffer;
  JsonWriter w(buffer);
  w.StartObject();
  write_member(w, "apiVersion", "coordination.k8s.io/v1");
  write_member(w, "kind", "Lease");
  w.Key("metadata");
  w.StartObject();
  write_member(w, "name", name);
  write_member(w, "namespace", namespace_name);
  if (!resource_version.empty()) write_member(w, "resourceVersion", resource_version);
  w.EndObject();
  w.Key("spec");
  w.StartObject();
  // An empty holder is written as "" (not left out): a merge of the object keeps nothing of the old holder.
  write_member(w, "holderIdentity", r.holder);
  w.Key("leaseDurationSeconds");
  w.Int64(r.lease_duration_seconds);
  if (!r.acquire_time.empty()) write_member(w, "acquireTime", r.acquire_time);
  if (!r.renew_time.empty()) write_member(w, "renewTime", r.renew_time);
  w.Key("leaseTransitions");
  w.Int64(r.transitions);
  w.EndObject();
  w.EndObject();
  return json_text(buffer);
}

void LeaseObservation::observe(const LeaseRecord& record, std::chrono::steady_clock::time_point now) {
  if (last_ && *last_ == record) return;
  last_ = record;
  changed_at_ = now;
}

LeaseDecision decide(const std::optional<LeaseRecord>& current, const std::string& identity,
                     const LeaseObservation& observed, std::chrono::steady_clock::time_point now,
                     std::chrono::system_clock::time_point wall_now, const LeaderElectionTiming& timing) {
  LeaseDecision d;
  const std::string now_text = rfc3339_micros(wall_now);
  if (!current) {
    d.step = LeaseDecision::Step::create;
    d.write = LeaseRecord{identity, whole_seconds_up(timing.lease_duration), now_text, now_text, 0};
    return d;
  }
  const bool ours = current->holder == identity;
  const bool held_by_other = !current->holder.empty() && !ours;
  // The holder's own duration, as client-go: during a rolling update that changes the flags, a standby with a
  // shorter one must not take the Lease from a leader that renews at its own, longer, pace. A record without
  // one (not written by us nor by client-go) gets our flag's.
  const auto valid_for = current->lease_duration_seconds > 0
                             ? std::chrono::milliseconds(std::chrono::seconds(current->lease_duration_seconds))
                             : timing.lease_duration;
  if (held_by_other && now < observed.changed_at() + valid_for) {
    d.step = LeaseDecision::Step::wait;
    d.holder = current->holder;
    return d;
  }
  d.write = *current;
  d.write.holder = identity;
  d.write.lease_duration_seconds = whole_seconds_up(timing.lease_duration);
  d.write.renew_time = now_text;
  if (ours) {
    d.step = LeaseDecision::Step::renew;
  } else {
    d.step = LeaseDecision::Step::acquire;
    d.write.acquire_time = now_text;
    ++d.write.transitions;
  }
  return d;
}

std::chrono::milliseconds candidate_retry_wait(std::chrono::milliseconds retry_period, double random01) {
  const double stretch = 1.0 + 1.2 * std::clamp(random01, 0.0, 1.0);
  return std::chrono::milliseconds(static_cast<std::int64_t>(static_cast<double>(retry_period.count()) * stretch));
}

LeaseRecord released(const LeaseRecord& held, std::chrono::system_clock::time_point wall_now) {
  LeaseRecord r = held;
  r.holder.clear();
  r.lease_duration_seconds = 1;
  r.renew_time = rfc3339_micros(wall_now);
  r.acquire_time = r.renew_time;
  return r;
}

}  // namespace jarvis::controller
