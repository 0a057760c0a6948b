// Leader election's I/O: takes and renews the Lease <namespace>/jarvis-controller through the API client, by
// the rules of leader_election.hpp. Every attempt (a GET, then a conditional create or update) has a deadline:
// the time the leader has left before its renew deadline, or the renew deadline while it is a candidate.
// The controller asks may_act() before every write and every Start or Cancel (leader_gate.hpp): a leader
// whose renew deadline passed stops acting at once, even while its renewal is still in the air.
#pragma once

#include <chrono>
#include <functional>
#include <string>

#include <boost/asio/awaitable.hpp>

#include "common/log.hpp"
#include "common/result.hpp"
#include "controller/leader_election.hpp"
#include "kube/client.hpp"

namespace jarvis::controller {

struct LeaderElectorSettings {
  std::string namespace_name = "jarvis";
  std::string lease_name = std::string(leader_lease_name);
  std::string identity;  // make_leader_identity()
  LeaderElectionTiming timing;
};

// `pod_name` (the downward API's metadata.name; the host name when empty) + "_" + a random suffix, so two
// processes of one pod (a restart) never share an identity.
std::string make_leader_identity(std::string pod_name);

class LeaderElector {
 public:
  using OnChange = std::function<void(bool leading)>;
  using OnLost = std::function<void(const std::string& why)>;

  using Random = std::function<double()>;  // a draw in [0, 1)

  // Candidates jitter their retries with draws from `random` (tests pin it); the first form draws from a
  // generator of its own, seeded by std::random_device.
  LeaderElector(kube::Client& api, LeaderElectorSettings settings, Logger& log);
  LeaderElector(kube::Client& api, LeaderElectorSettings settings, Logger& log, Random random);
  LeaderElector(const LeaderElector&) = delete;
  LeaderElector& operator=(const LeaderElector&) = delete;

  // Called with true when this process takes the Lease and with false when it stops leading (lost or released).
  // The observable for a leader_election_master_status gauge.
  void on_change(OnChange f) { on_change_ = std::move(f); }
  // Called once when the leader could not renew before its renew deadline or saw the Lease taken: it must
  // stop at once.
  void on_lost(OnLost f) { on_lost_ = std::move(f); }

  // Tries to take the Lease every 1 to 2.2 retry periods (candidate_retry_wait) until it holds it, then renews
  // it every retry period until it cannot (on_lost) or is cancelled (still holding it: see release()).
  boost::asio::awaitable<void> run();
  // Hands the Lease over at once (holder cleared), when this process holds it; then no longer leads.
  boost::asio::awaitable<void> release();

  // Leads, and its last successful renewal was sent less than the renew deadline ago (monotonic clock).
  bool may_act() const { return leadership_.valid(std::chrono::steady_clock::now()); }
  bool leading() const { return leadership_.leading(); }
  const std::string& identity() const { return settings_.identity; }

 private:
  enum class Attempt { holding, held_by_other, conflict, failed };
  struct AttemptResult {
    Attempt outcome = Attempt::failed;
    std::string detail;  // the holder, or the error
  };
  boost::asio::awaitable<AttemptResult> try_acquire_or_renew();
  boost::asio::awaitable<AttemptResult> attempt_within(std::chrono::steady_clock::duration deadline);
  boost::asio::awaitable<Result<bool>> write_released();
  void lose(const std::string& why);
  std::string lease_path() const;

  kube::Client& api_;
  LeaderElectorSettings settings_;
  Logger& log_;
  LeaseObservation observed_;
  Leadership leadership_;
  Random random_;
  std::string last_holder_seen_;
  OnChange on_change_ = [](bool) {};
  OnLost on_lost_ = [](const std::string&) {};
};

}  // namespace jarvis::controller
