#include "controller/leader_elector.hpp"

#include <unistd.h>

#include <random>
#include <variant>

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/beast/http/verb.hpp>

#include "common/coro.hpp"
#include "common/json.hpp"
#include "kube/response.hpp"

namespace jarvis::controller {

namespace asio = boost::asio;
using boost::beast::http::verb;
using Clock = std::chrono::steady_clock;

std::string make_leader_identity(std::string pod_name) {
  if (pod_name.empty()) {
    char host[256] = {};
    if (::gethostname(host, sizeof host - 1) == 0) pod_name = host;
    if (pod_name.empty()) pod_name = "jarvis-controller";
  }
  std::random_device random;
  static constexpr char hex[] = "0123456789abcdef";
  std::string suffix;
  for (int i = 0; i < 8; ++i) suffix += hex[random() % 16];
  return pod_name + "_" + suffix;
}

LeaderElector::LeaderElector(kube::Client& api, LeaderElectorSettings settings, Logger& log)
    : LeaderElector(api, std::move(settings), log,
                    [generator = std::mt19937_64(std::random_device{}())]() mutable {
                      return std::uniform_real_distribution<double>(0.0, 1.0)(generator);
                    }) {}

LeaderElector::LeaderElector(kube::Client& api, LeaderElectorSettings settings, Logger& log, Random random)
    : api_(api),
      settings_(std::move(settings)),
      log_(log),
      leadership_(settings_.timing.renew_deadline),
      random_(std::move(random)) {}

std::string LeaderElector::lease_path() const {
  return "/apis/coordination.k8s.io/v1/namespaces/" + settings_.namespace_name + "/leases";
}

asio::awaitable<LeaderElector::AttemptResult> LeaderElector::try_acquire_or_renew() {
  const std::string object_path = lease_path() + "/" + settings_.lease_name;
  auto got = co_await api_.request(verb::get, object_path);
  if (!got) co_return AttemptResult{Attempt::failed, got.error().message};
  std::optional<LeaseRecord> current;
  std::string version;
  if (got->status != 404) {
    if (!kube::is_success(*got)) co_return AttemptResult{Attempt::failed, kube::describe_response(*got)};
    auto doc = parse_json(got->body, "Lease");
    if (!doc) co_return AttemptResult{Attempt::failed, doc.error().message};
    auto lease = parse_lease(*doc);
    if (!lease) co_return AttemptResult{Attempt::failed, lease.error().message};
    observed_.observe(lease->record, Clock::now());
    current = lease->record;
    version = lease->resource_version;
    if (lease->record.holder != last_holder_seen_) {
      last_holder_seen_ = lease->record.holder;
      if (lease->record.holder != settings_.identity)
        log_.info("leader lease holder", {{"lease", settings_.namespace_name + "/" + settings_.lease_name},
                                          {"holder", last_holder_seen_.empty() ? "(none)" : last_holder_seen_}});
    }
  }
  const LeaseDecision d =
      decide(current, settings_.identity, observed_, Clock::now(), std::chrono::system_clock::now(), settings_.timing);
  if (d.step == LeaseDecision::Step::wait) co_return AttemptResult{Attempt::held_by_other, d.holder};

  const bool create = d.step == LeaseDecision::Step::create;
  const std::string body = lease_json(settings_.namespace_name, settings_.lease_name, d.write, version);
  // No ?: inside the co_await's expression: GCC 12 destroys its temporary twice (common/coro.hpp).
  const verb method = create ? verb::post : verb::put;
  std::string target = create ? lease_path() : object_path;
  auto written = co_await api_.request(method, std::move(target), body);
  if (!written) co_return AttemptResult{Attempt::failed, written.error().message};
  // Someone else wrote it first, or our own earlier write whose answer was lost and that the client sent
  // again: the next read tells.
  if (written->status == 409) co_return AttemptResult{Attempt::conflict, "the Lease changed meanwhile (409 Conflict)"};
  if (!kube::is_success(*written)) co_return AttemptResult{Attempt::failed, kube::describe_response(*written)};
  observed_.observe(d.write, Clock::now());
  co_return AttemptResult{Attempt::holding, {}};
}

asio::awaitable<LeaderElector::AttemptResult> LeaderElector::attempt_within(Clock::duration deadline) {
  using namespace asio::experimental::awaitable_operators;
  asio::steady_timer timer(co_await asio::this_coro::executor, deadline);
  std::variant<AttemptResult, std::tuple<boost::system::error_code>> first =
      co_await (try_acquire_or_renew() || timer.async_wait(use_tuple));
  if (auto* r = std::get_if<AttemptResult>(&first)) co_return std::move(*r);
  co_return AttemptResult{Attempt::failed, "no answer within " +
                                               std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                                  deadline).count()) + " ms"};
}

void LeaderElector::lose(const std::string& why) {
  leadership_.lost();
  log_.error("lost the leader lease; stopping", {{"lease", settings_.namespace_name + "/" + settings_.lease_name},
                                                  {"identity", settings_.identity}, {"reason", why}});
  on_change_(false);
  on_lost_(why);
}

asio::awaitable<void> LeaderElector::run() {
  const auto& t = settings_.timing;
  log_.info("waiting for the leader lease", {{"lease", settings_.namespace_name + "/" + settings_.lease_name},
                                             {"identity", settings_.identity}});
  std::string last_failure;
  for (;;) {
    const auto sent = Clock::now();
    const AttemptResult r = co_await attempt_within(t.renew_deadline);
    const bool stopping = is_cancelled(co_await asio::this_coro::cancellation_state);
    if (r.outcome == Attempt::holding) {
      leadership_.renewed(sent);  // also when stopping: release() then hands it back
      if (stopping) co_return;
      break;
    }
    if (stopping) co_return;
    if (r.outcome == Attempt::failed && r.detail != last_failure)
      log_.warn("could not read or take the leader lease; retrying",
                {{"lease", settings_.namespace_name + "/" + settings_.lease_name}, {"error", r.detail}});
    last_failure = r.outcome == Attempt::failed ? r.detail : "";
    // Jittered as client-go's candidates are (wait.JitterUntil): candidates started together spread out.
    const auto wait = candidate_retry_wait(t.retry_period, random_());
    const bool slept = co_await sleep_for(wait);
    if (!slept) co_return;
  }
  log_.info("became the leader", {{"lease", settings_.namespace_name + "/" + settings_.lease_name},
                                  {"identity", settings_.identity}});
  on_change_(true);

  last_failure.clear();
  for (;;) {
    const auto left = leadership_.valid_until() - Clock::now();
    const bool slept = co_await sleep_for(std::min<Clock::duration>(t.retry_period, std::max(left, Clock::duration::zero())));
    if (!slept) co_return;
    const auto sent = Clock::now();
    if (!leadership_.valid(sent)) {
      lose(last_failure.empty()
               ? "no renewal for --leader-elect-renew-deadline: this process did not run (stopped or starved)"
               : "could not renew within --leader-elect-renew-deadline: " + last_failure);
      co_return;
    }
    const AttemptResult r = co_await attempt_within(leadership_.valid_until() - sent);
    if (is_cancelled(co_await asio::this_coro::cancellation_state)) co_return;  // stopping: release() follows
    if (r.outcome == Attempt::holding) {
      leadership_.renewed(sent);
      last_failure.clear();
      continue;
    }
    if (r.outcome == Attempt::held_by_other) {
      lose("the Lease is held by " + r.detail);
      co_return;
    }
    last_failure = r.detail;
    if (r.outcome == Attempt::conflict) continue;  // the next read tells
    log_.warn("could not renew the leader lease; retrying until the renew deadline",
              {{"lease", settings_.namespace_name + "/" + settings_.lease_name}, {"error", r.detail}});
  }
}

// Reads the Lease again (a renewal cancelled in flight may have changed it) and, while this process holds it,
// writes it released, conditional on what was read.
asio::awaitable<Result<bool>> LeaderElector::write_released() {
  const std::string object_path = lease_path() + "/" + settings_.lease_name;
  for (int attempt = 0; attempt < 3; ++attempt) {
    auto got = co_await api_.request(verb::get, object_path);
    if (!got) co_return got.error();
    if (!kube::is_success(*got)) co_return Error{kube::describe_response(*got)};
    auto doc = parse_json(got->body, "Lease");
    if (!doc) co_return doc.error();
    auto lease = parse_lease(*doc);
    if (!lease) co_return lease.error();
    if (lease->record.holder != settings_.identity) co_return false;  // someone else's already
    const std::string body = lease_json(settings_.namespace_name, settings_.lease_name,
                                        released(lease->record, std::chrono::system_clock::now()),
                                        lease->resource_version);
    auto written = co_await api_.request(verb::put, object_path, body);
    if (!written) co_return written.error();
    if (kube::is_success(*written)) co_return true;
    if (written->status != 409) co_return Error{kube::describe_response(*written)};
  }
  co_return Error{"the Lease kept changing (409 Conflict)"};
}

asio::awaitable<void> LeaderElector::release() {
  if (!leadership_.leading()) co_return;
  const bool valid = may_act();
  leadership_.lost();
  on_change_(false);
  if (!valid) co_return;  // past the deadline: someone else may hold it by now
  using namespace asio::experimental::awaitable_operators;
  asio::steady_timer timer(co_await asio::this_coro::executor, settings_.timing.renew_deadline);
  auto first = co_await (write_released() || timer.async_wait(use_tuple));
  const auto* answer = std::get_if<0>(&first);
  if (answer && *answer) {
    if (**answer)
      log_.info("released the leader lease", {{"lease", settings_.namespace_name + "/" + settings_.lease_name},
                                              {"identity", settings_.identity}});
  } else {
    const std::string error = answer ? answer->error().message : "no answer in time";
    log_.warn("could not release the leader lease; the standby takes it when it expires",
              {{"lease", settings_.namespace_name + "/" + settings_.lease_name}, {"error", error}});
  }
}

}  // namespace jarvis::controller
