// Why a TLS handshake between the controller and an agent failed, from OpenSSL's own results (no text guessing):
// what the first bytes were, the handshake's OpenSSL error code and the certificate verification result. The
// agent classifies the connections it refused, the controller its handshakes with agents (agent_connector.hpp).
// The reasons are a fixed set: they label jarvis_tls_handshake_failures_total and the audit line's `reason`.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include <openssl/x509.h>

namespace jarvis::tls {

namespace refusal {
inline constexpr std::string_view plaintext = "plaintext (not TLS)";
inline constexpr std::string_view no_certificate = "no client certificate";
inline constexpr std::string_view unknown_ca = "certificate not issued by the Jarvis CA";
inline constexpr std::string_view wrong_purpose = "certificate not meant for this side (key usage)";
inline constexpr std::string_view expired = "certificate expired";
inline constexpr std::string_view not_yet_valid = "certificate not yet valid";
inline constexpr std::string_view wrong_identity = "wrong identity (the certificate does not name the expected peer)";
inline constexpr std::string_view client_refused_us = "the client refused the agent's certificate";
// The controller's side: the agent answered its certificate with an alert.
inline constexpr std::string_view agent_refused_us = "the agent refused the controller's certificate";
inline constexpr std::string_view timed_out = "TLS handshake timed out";
inline constexpr std::string_view closed_early = "closed by the client before the handshake completed";
inline constexpr std::string_view too_many = "too many handshakes in progress";
inline constexpr std::string_view other = "TLS handshake failed";
}  // namespace refusal

// Whether the first bytes a client sent can start a TLS record: a handshake record (22) of version 3.x. Any
// other first byte (a letter of "GET /", an HTTP/2 preface, ...) is plaintext.
bool starts_like_tls(std::span<const unsigned char> first_bytes);

// How a handshake that the client did start (its first bytes were TLS) failed.
struct HandshakeFailure {
  unsigned long ssl_error = 0;  // OpenSSL's packed error code (ERR_get_error; Asio's ssl category value); 0: none
  long verify_result = 0;       // SSL_get_verify_result (X509_V_OK = 0 when no certificate was verified)
  bool end_of_stream = false;   // the client closed the connection in the middle of the handshake
};

// One of the refusal:: reasons.
std::string_view refusal_reason(const HandshakeFailure& failure);

// OpenSSL's words for the failure (its error string and the verification error), for the audit line's detail.
std::string refusal_detail(const HandshakeFailure& failure);

// The subject's common name of a certificate ("" when it has none).
std::string certificate_common_name(X509* certificate);
// "CN=..., DNS:..., DNS:..." of a peer's certificate: what the identity check looked at.
std::string describe_certificate(X509* certificate);

}  // namespace jarvis::tls
