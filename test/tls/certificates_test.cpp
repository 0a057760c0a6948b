// The Jarvis PKI's pure parts: CA and leaf certificates, their inspection and verification, renewal timing.
#include <catch2/catch.hpp>

#include <algorithm>

#include "tls/certificates.hpp"
#include "tls/identities.hpp"

using namespace jarvis::tls;
using namespace std::chrono_literals;

namespace {

KeyPair must(jarvis::Result<KeyPair> r) {
  if (!r.ok()) FAIL(r.error().message);
  return std::move(r).value();
}

CertificateInfo info_of(const KeyPair& pair) {
  auto info = inspect_certificate(pair.certificate_pem);
  if (!info.ok()) FAIL(info.error().message);
  return std::move(info).value();
}

}  // namespace

TEST_CASE("a CA is self-signed, a CA, and valid for its lifetime", "[tls]") {
  const auto now = Clock::now();
  const KeyPair ca = must(make_certificate_authority("jarvis-ca", 24h, now));
  const CertificateInfo info = info_of(ca);
  CHECK(info.common_name == "jarvis-ca");
  CHECK(info.is_ca);
  CHECK(info.sha256_fingerprint.size() == 64);
  CHECK(info.not_after - now <= 24h);
  CHECK(info.not_after - now > 24h - 2s);
  CHECK(now - info.not_before <= backdate + 1s);  // certificate times have whole seconds
  CHECK(verify_key_pair(ca, ca.certificate_pem, now).ok());
  CHECK_FALSE(verify_key_pair(ca, ca.certificate_pem, now + 25h).ok());
}

TEST_CASE("a leaf names its identity, chains to its CA only, and is no CA", "[tls]") {
  const auto now = Clock::now();
  const KeyPair ca = must(make_certificate_authority("jarvis-ca", 24h, now));
  const KeyPair other_ca = must(make_certificate_authority("jarvis-ca", 24h, now));
  const KeyPair agent = must(issue_certificate(ca, agent_identity, Usage::server, 1h, now));
  const CertificateInfo info = info_of(agent);
  CHECK(info.common_name == agent_identity);
  CHECK(info.dns_names == std::vector<std::string>{std::string(agent_identity)});
  CHECK_FALSE(info.is_ca);
  CHECK(verify_key_pair(agent, ca.certificate_pem, now).ok());

  const auto foreign = verify_key_pair(agent, other_ca.certificate_pem, now);
  REQUIRE_FALSE(foreign.ok());
  CHECK_THAT(foreign.error().message, Catch::Contains("does not verify against the CA"));

  const auto expired = verify_key_pair(agent, ca.certificate_pem, now + 2h);
  REQUIRE_FALSE(expired.ok());
  CHECK_THAT(expired.error().message, Catch::Contains("expired"));

  // Another certificate's key does not match.
  const KeyPair controller = must(issue_certificate(ca, controller_identity, Usage::client, 1h, now));
  const auto mismatched = verify_key_pair({agent.certificate_pem, controller.private_key_pem}, ca.certificate_pem, now);
  REQUIRE_FALSE(mismatched.ok());
  CHECK_THAT(mismatched.error().message, Catch::Contains("does not match"));

}

TEST_CASE("issuing refuses a CA whose key does not match and malformed input", "[tls]") {
  const auto now = Clock::now();
  const KeyPair ca = must(make_certificate_authority("jarvis-ca", 24h, now));
  const KeyPair other = must(make_certificate_authority("jarvis-ca", 24h, now));
  const auto mixed = issue_certificate({ca.certificate_pem, other.private_key_pem}, agent_identity, Usage::server, 1h, now);
  REQUIRE_FALSE(mixed.ok());
  CHECK_THAT(mixed.error().message, Catch::Contains("does not match"));
  const auto garbage = issue_certificate({"not a pem", ca.private_key_pem}, agent_identity, Usage::server, 1h, now);
  REQUIRE_FALSE(garbage.ok());
  CHECK_THAT(garbage.error().message, Catch::Contains("CA certificate"));
  CHECK_FALSE(inspect_certificate("").ok());
  CHECK_FALSE(inspect_certificate("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n").ok());
}

TEST_CASE("renewal is due when a third of the lifetime is left", "[tls]") {
  const auto now = Clock::now();
  const KeyPair ca = must(make_certificate_authority("jarvis-ca", 24h, now));
  const CertificateInfo info = info_of(must(issue_certificate(ca, agent_identity, Usage::server, 90min, now)));
  const auto total = info.not_after - info.not_before;
  CHECK(renewal_time(info) == info.not_before + total * 2 / 3);
  CHECK_FALSE(needs_renewal(info, now));
  CHECK_FALSE(needs_renewal(info, renewal_time(info) - 1s));
  CHECK(needs_renewal(info, renewal_time(info)));
  CHECK(needs_renewal(info, info.not_after + 1s));
}

TEST_CASE("short lifetimes are backdated by a tenth at most, so renewal comes before expiry", "[tls]") {
  const auto now = Clock::now();
  const KeyPair ca = must(make_certificate_authority("jarvis-ca", 24h, now));
  const CertificateInfo info = info_of(must(issue_certificate(ca, agent_identity, Usage::server, 30s, now)));
  CHECK(now - info.not_before <= 4s);
  CHECK(renewal_time(info) > now);
  CHECK(info.not_after - renewal_time(info) >= 9s);
}

TEST_CASE("serial numbers differ between certificates", "[tls]") {
  const auto now = Clock::now();
  const KeyPair ca = must(make_certificate_authority("jarvis-ca", 24h, now));
  const KeyPair a = must(issue_certificate(ca, agent_identity, Usage::server, 1h, now));
  const KeyPair b = must(issue_certificate(ca, agent_identity, Usage::server, 1h, now));
  CHECK(info_of(a).sha256_fingerprint != info_of(b).sha256_fingerprint);
  CHECK(a.private_key_pem != b.private_key_pem);
}
