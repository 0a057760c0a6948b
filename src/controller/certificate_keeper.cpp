#include "controller/certificate_keeper.hpp"

#include <algorithm>
#include <map>

#include <boost/beast/http/verb.hpp>

#include "common/time_format.hpp"
#include "kube/base64.hpp"
#include "common/backoff.hpp"
#include "common/coro.hpp"
#include "common/json.hpp"
#include "kube/response.hpp"
#include "tls/identities.hpp"
#include "tls/tls_directory.hpp"

namespace jarvis::controller {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using tls::Clock;

namespace {

constexpr int max_conflict_retries = 5;

// A Secret with string data (base64-encoded here); `resource_version` set makes a PUT conditional on it.
std::string secret_json(std::string_view ns, std::string_view name, std::string_view component,
                        std::initializer_list<std::pair<std::string_view, const std::string*>> data,
                        std::string_view resource_version = {}) {
  rapidjson::StringBuffer buffer;
  JsonWriter w(buffer);
  auto str = [&w](std::string_view s) { write_string(w, s); };
  w.StartObject();
  w.Key("apiVersion");
  w.String("v1");
  w.Key("kind");
  w.String("Secret");
  w.Key("metadata");
  w.StartObject();
  w.Key("name");
  str(name);
  w.Key("namespace");
  str(ns);
  if (!resource_version.empty()) {
    w.Key("resourceVersion");
    str(resource_version);
  }
  w.Key("labels");
  w.StartObject();
  w.Key("app.kubernetes.io/name");
  w.String("jarvis");
  w.Key("app.kubernetes.io/component");
  str(component);
  w.Key("app.kubernetes.io/managed-by");
  w.String("jarvis-controller");
  w.EndObject();
  w.EndObject();
  w.Key("type");
  w.String("Opaque");
  w.Key("data");
  w.StartObject();
  for (const auto& [key, value] : data) {
    str(key);
    str(kube::base64_encode(*value));
  }
  w.EndObject();
  w.EndObject();
  return json_text(buffer);
}

struct StoredSecret {
  std::string resource_version;
  std::map<std::string, std::string, std::less<>> data;  // decoded
};

Result<StoredSecret> parse_secret(std::string_view body, std::string_view what) {
  auto doc = parse_json(body, what);
  if (!doc) return doc.error();
  StoredSecret secret;
  secret.resource_version = std::string(string_at(*doc, {"metadata", "resourceVersion"}).value_or(""));
  if (const auto* data = value_at(*doc, {"data"}); data != nullptr && data->IsObject()) {
    for (const auto& member : data->GetObject()) {
      if (!member.value.IsString()) continue;
      auto decoded = kube::base64_decode(std::string_view(member.value.GetString(), member.value.GetStringLength()));
      if (!decoded) return Error{std::string(what) + ": data." + member.name.GetString() + " is not base64"};
      secret.data.emplace(member.name.GetString(), std::move(*decoded));
    }
  }
  return secret;
}

std::string field(const StoredSecret& s, std::string_view key) {
  const auto it = s.data.find(key);
  return it == s.data.end() ? std::string() : it->second;
}

// Why the agents' Secret must be (re)written, or "" when it is fine.
std::string agent_secret_problem(const StoredSecret& s, const tls::KeyPair& ca, std::chrono::seconds lifetime,
                                 Clock::time_point now) {
  const tls::KeyPair identity{field(s, tls::certificate_file), field(s, tls::private_key_file)};
  if (identity.certificate_pem.empty() || identity.private_key_pem.empty()) return "certificate or key missing";
  if (field(s, tls::ca_file) != ca.certificate_pem) return "it carries another CA";
  if (auto valid = tls::verify_key_pair(identity, ca.certificate_pem, now); !valid) return valid.error().message;
  auto info = tls::inspect_certificate(identity.certificate_pem);
  if (!info) return info.error().message;
  if (std::find(info->dns_names.begin(), info->dns_names.end(), tls::agent_identity) == info->dns_names.end())
    return "the certificate does not name " + std::string(tls::agent_identity);
  if (tls::needs_renewal(*info, now)) return "renewal due (less than a third of its lifetime left)";
  // --cert-lifetime was shortened since it was issued: the new limit applies now, not in months.
  if (info->not_after > now + lifetime + std::chrono::minutes(1)) return "it outlives --cert-lifetime";
  return {};
}

// Why the stored CA cannot be used, or "" when it can. (Kept out of the coroutines: GCC 12 mis-compiles some
// temporaries there.)
std::string ca_problem(const tls::KeyPair& ca) {
  if (auto valid = tls::verify_key_pair(ca, ca.certificate_pem, Clock::now()); !valid) return valid.error().message;
  auto info = tls::inspect_certificate(ca.certificate_pem);
  if (!info) return info.error().message;
  if (!info->is_ca) return "not a CA certificate";
  return {};
}

std::string ca_secret_body(std::string_view ns, const tls::KeyPair& ca) {
  return secret_json(ns, ca_secret_name, "ca", {{"ca.crt", &ca.certificate_pem}, {"ca.key", &ca.private_key_pem}});
}

std::string agent_secret_body(std::string_view ns, const std::string& ca_pem, const tls::KeyPair& identity,
                              std::string_view resource_version) {
  return secret_json(ns, agent_tls_secret_name, "agent-tls",
                     {{tls::ca_file, &ca_pem},
                      {tls::certificate_file, &identity.certificate_pem},
                      {tls::private_key_file, &identity.private_key_pem}},
                     resource_version);
}

}  // namespace

CertificateKeeper::CertificateKeeper(kube::Client& api, CertificateSettings settings, Logger& log)
    : api_(api), settings_(std::move(settings)), log_(log) {}

std::string CertificateKeeper::secret_path(std::string_view name) const {
  std::string path = "/api/v1/namespaces/" + settings_.namespace_name + "/secrets";
  if (!name.empty()) path += "/" + std::string(name);
  return path;
}

asio::awaitable<Result<tls::KeyPair>> CertificateKeeper::ensure_ca() {
  const std::string where = settings_.namespace_name + "/" + std::string(ca_secret_name);
  for (int attempt = 0; attempt <= max_conflict_retries; ++attempt) {
    auto got = co_await api_.request(http::verb::get, secret_path(ca_secret_name));
    if (!got) co_return Error{"reading Secret " + where + ": " + got.error().message};
    if (got->status == 200) {
      auto stored = parse_secret(got->body, "Secret " + where);
      if (!stored) co_return stored.error();
      tls::KeyPair ca{field(*stored, "ca.crt"), field(*stored, "ca.key")};
      const std::string problem = ca_problem(ca);
      if (!problem.empty()) {
        co_return Error{"Secret " + where + " does not hold a usable CA (" + problem +
                        "); to start over, delete it (kubectl -n " + settings_.namespace_name + " delete secret " +
                        std::string(ca_secret_name) + "): the controller then makes a new CA and agent certificate"};
      }
      auto info = tls::inspect_certificate(ca.certificate_pem);
      if (info->sha256_fingerprint != ca_fingerprint_) {
        log_.info("using the Jarvis CA", {{"secret", where},
                                          {"sha256", info->sha256_fingerprint},
                                          {"not_after", rfc3339(info->not_after)}});
        ca_fingerprint_ = info->sha256_fingerprint;
      }
      co_return ca;
    }
    if (got->status != 404) co_return Error{"reading Secret " + where + ": " + kube::describe_response(*got)};

    auto made = tls::make_certificate_authority(tls::ca_common_name, settings_.ca_lifetime, Clock::now());
    if (!made) co_return Error{"making the Jarvis CA: " + made.error().message};
    std::string body = ca_secret_body(settings_.namespace_name, *made);
    auto created = co_await api_.request(http::verb::post, secret_path({}), std::move(body));
    if (!created) co_return Error{"creating Secret " + where + ": " + created.error().message};
    if (created->status == 201 || created->status == 200) {
      log_.info("created the Jarvis CA", {{"secret", where}});
      continue;  // read it back like any other start, so every replica takes the same path
    }
    if (created->status == 409) {
      log_.info("another controller created the Jarvis CA first; using it", {{"secret", where}});
      continue;
    }
    co_return Error{"creating Secret " + where + ": " + kube::describe_response(*created)};
  }
  co_return Error{"Secret " + where + " keeps changing; giving up for now"};
}

asio::awaitable<Result<tls::CertificateInfo>> CertificateKeeper::ensure_agent_secret(const tls::KeyPair& ca) {
  const std::string where = settings_.namespace_name + "/" + std::string(agent_tls_secret_name);
  for (int attempt = 0; attempt <= max_conflict_retries; ++attempt) {
    auto got = co_await api_.request(http::verb::get, secret_path(agent_tls_secret_name));
    if (!got) co_return Error{"reading Secret " + where + ": " + got.error().message};
    std::string resource_version;
    std::string problem = "it does not exist";
    if (got->status == 200) {
      auto stored = parse_secret(got->body, "Secret " + where);
      if (!stored) co_return stored.error();
      resource_version = stored->resource_version;
      problem = agent_secret_problem(*stored, ca, settings_.certificate_lifetime, Clock::now());
      if (problem.empty()) co_return tls::inspect_certificate(field(*stored, tls::certificate_file));
    } else if (got->status != 404) {
      co_return Error{"reading Secret " + where + ": " + kube::describe_response(*got)};
    }

    auto issued = tls::issue_certificate(ca, tls::agent_identity, tls::Usage::server, settings_.certificate_lifetime,
                                         Clock::now());
    if (!issued) co_return Error{"issuing the agent certificate: " + issued.error().message};
    std::string body = agent_secret_body(settings_.namespace_name, ca.certificate_pem, *issued, resource_version);
    // Created when absent; otherwise replaced only if nobody changed it since it was read.
    const bool create = resource_version.empty();
    const http::verb verb = create ? http::verb::post : http::verb::put;
    const std::string path = create ? secret_path({}) : secret_path(agent_tls_secret_name);
    auto written = co_await api_.request(verb, path, std::move(body));
    if (!written) co_return Error{"writing Secret " + where + ": " + written.error().message};
    if (written->status == 409) {
      log_.info("Secret changed meanwhile (another controller?); reading it again", {{"secret", where}});
      continue;
    }
    if (!kube::is_success(*written)) co_return Error{"writing Secret " + where + ": " + kube::describe_response(*written)};
    auto info = tls::inspect_certificate(issued->certificate_pem);
    if (!info) co_return info.error();
    log_.info("issued the agent certificate", {{"secret", where},
                                               {"why", problem},
                                               {"sha256", info->sha256_fingerprint},
                                               {"not_after", rfc3339(info->not_after)},
                                               {"renew_at", rfc3339(tls::renewal_time(*info))}});
    co_return std::move(*info);
  }
  co_return Error{"Secret " + where + " keeps changing; giving up for now"};
}

Result<tls::CertificateInfo> CertificateKeeper::ensure_own_files(const tls::KeyPair& ca) {
  const auto now = Clock::now();
  if (own_ && own_info_ && own_ca_pem_ == ca.certificate_pem && !tls::needs_renewal(*own_info_, now)) return *own_info_;
  auto issued =
      tls::issue_certificate(ca, tls::controller_identity, tls::Usage::client, settings_.certificate_lifetime, now);
  if (!issued) return Error{"issuing the controller certificate: " + issued.error().message};
  auto info = tls::inspect_certificate(issued->certificate_pem);
  if (!info) return info.error();
  if (auto written = tls::write_tls_directory(settings_.tls_dir, {ca.certificate_pem, *issued}); !written) {
    return Error{"writing --tls-dir: " + written.error().message};
  }
  own_ = std::move(*issued);
  own_info_ = *info;
  own_ca_pem_ = ca.certificate_pem;
  log_.info("issued the controller certificate", {{"tls_dir", settings_.tls_dir},
                                                  {"sha256", info->sha256_fingerprint},
                                                  {"not_after", rfc3339(info->not_after)}});
  return *info;
}

asio::awaitable<Result<Clock::time_point>> CertificateKeeper::ensure() {
  auto ca = co_await ensure_ca();
  if (!ca) co_return ca.error();
  auto agent = co_await ensure_agent_secret(*ca);
  if (!agent) co_return agent.error();
  auto own = ensure_own_files(*ca);
  if (!own) co_return own.error();
  co_return std::min({tls::renewal_time(*agent), tls::renewal_time(*own), Clock::now() + settings_.recheck_every});
}

// A start-up that cannot make its certificates for this long is an error, not a passing state (an API server
// still starting, authorization data still loading).
constexpr auto kCertificatesUrgentAfter = std::chrono::minutes(1);

asio::awaitable<void> CertificateKeeper::run() {
  Backoff backoff(std::chrono::seconds(1), std::chrono::seconds(60));
  std::optional<std::chrono::steady_clock::time_point> failing_since;
  for (;;) {
    auto next = co_await ensure();
    std::chrono::milliseconds delay;
    if (next) {
      ready_ = true;
      failing_since.reset();
      backoff.reset();
      delay = std::max(std::chrono::duration_cast<std::chrono::milliseconds>(*next - Clock::now()),
                       std::chrono::milliseconds(1000));
    } else {
      delay = backoff.next();
      const auto now = std::chrono::steady_clock::now();
      if (!failing_since) failing_since = now;
      const std::initializer_list<LogField> fields{{"error", next.error().message},
                                                   {"retry_in_ms", static_cast<std::int64_t>(delay.count())}};
      if (ready_) {
        // A re-check failed (an API server restarting, say): the certificates in place keep working.
        log_.warn("could not re-check the certificates; the current ones stay in use; will retry", fields);
      } else if (now - *failing_since < kCertificatesUrgentAfter) {
        log_.warn("certificates not ready yet: no Command runs until they are; will retry", fields);
      } else {
        log_.error("certificates not ready: agents refuse this controller, no Command runs until they are", fields);
      }
    }
    const bool slept = co_await sleep_for(delay);
    if (!slept) co_return;
  }
}

}  // namespace jarvis::controller
