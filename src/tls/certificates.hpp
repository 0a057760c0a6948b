// Certificates for Jarvis's mutual TLS, made with OpenSSL: a self-signed CA and leaf certificates issued
// from it (ECDSA P-256, SHA-256). Pure functions of their inputs and the clock they are given; failures
// (a malformed PEM, a key that does not match) are values.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace jarvis::tls {

using Clock = std::chrono::system_clock;

struct KeyPair {
  std::string certificate_pem;
  std::string private_key_pem;
};

enum class Usage { server, client };

struct CertificateInfo {
  std::string common_name;
  std::vector<std::string> dns_names;
  Clock::time_point not_before;
  Clock::time_point not_after;
  std::string sha256_fingerprint;  // hex, lower case, of the DER encoding
  bool is_ca = false;
};

// Certificates start `backdate` (at most a tenth of their lifetime) before `now`, so a node whose clock is
// slightly behind accepts them.
inline constexpr std::chrono::minutes backdate{5};

Result<KeyPair> make_certificate_authority(std::string_view common_name, std::chrono::seconds lifetime,
                                           Clock::time_point now);

// A leaf certificate for `identity` (its common name and only DNS name), usable for `usage` only.
Result<KeyPair> issue_certificate(const KeyPair& ca, std::string_view identity, Usage usage,
                                  std::chrono::seconds lifetime, Clock::time_point now);

Result<CertificateInfo> inspect_certificate(std::string_view certificate_pem);

// Ok when `pair` is a certificate that chains to `ca_certificate_pem` and is valid at `now`, and its key
// matches; otherwise an Error saying which of those fails.
Status verify_key_pair(const KeyPair& pair, std::string_view ca_certificate_pem, Clock::time_point now);

// Whether a certificate valid from not_before to not_after should be replaced at `now`: when less than a
// third of its lifetime is left.
bool needs_renewal(const CertificateInfo& info, Clock::time_point now);

// When needs_renewal() starts answering true.
Clock::time_point renewal_time(const CertificateInfo& info);

}  // namespace jarvis::tls
