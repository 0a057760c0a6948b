#include "tls/handshake_refusal.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

namespace jarvis::tls {

namespace {

constexpr unsigned char handshake_record = 22;
constexpr unsigned char tls_major_version = 3;

std::string_view verification_reason(long verify_result) {
  switch (verify_result) {
    case X509_V_ERR_CERT_HAS_EXPIRED: return refusal::expired;
    case X509_V_ERR_CERT_NOT_YET_VALID: return refusal::not_yet_valid;
    case X509_V_ERR_HOSTNAME_MISMATCH: return refusal::wrong_identity;
    case X509_V_ERR_INVALID_PURPOSE:
    case X509_V_ERR_KEYUSAGE_NO_DIGITAL_SIGNATURE: return refusal::wrong_purpose;
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_CERT_SIGNATURE_FAILURE:
    case X509_V_ERR_CERT_UNTRUSTED:
    case X509_V_ERR_CERT_REJECTED: return refusal::unknown_ca;
    default: return refusal::other;
  }
}

// A TLS alert the client sent about the agent's certificate (OpenSSL reports a received alert as reason
// SSL_AD_REASON_OFFSET + the alert's number).
bool certificate_alert(int reason) {
  switch (reason - SSL_AD_REASON_OFFSET) {
    case SSL_AD_BAD_CERTIFICATE:
    case SSL_AD_UNSUPPORTED_CERTIFICATE:
    case SSL_AD_CERTIFICATE_REVOKED:
    case SSL_AD_CERTIFICATE_EXPIRED:
    case SSL_AD_CERTIFICATE_UNKNOWN:
    case SSL_AD_UNKNOWN_CA:
    case SSL_AD_DECRYPT_ERROR:
    case SSL_AD_BAD_CERTIFICATE_STATUS_RESPONSE: return true;
    default: return false;
  }
}

}  // namespace

bool starts_like_tls(std::span<const unsigned char> first_bytes) {
  if (first_bytes.empty() || first_bytes[0] != handshake_record) return false;
  return first_bytes.size() < 2 || first_bytes[1] == tls_major_version;
}

std::string_view refusal_reason(const HandshakeFailure& failure) {
  if (failure.verify_result != X509_V_OK) return verification_reason(failure.verify_result);
  if (failure.ssl_error == 0) return failure.end_of_stream ? refusal::closed_early : refusal::other;
  if (ERR_GET_LIB(failure.ssl_error) != ERR_LIB_SSL) return refusal::other;
  const int reason = ERR_GET_REASON(failure.ssl_error);
  switch (reason) {
    case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE: return refusal::no_certificate;
    case SSL_R_HTTP_REQUEST:
    case SSL_R_HTTPS_PROXY_REQUEST:
    case SSL_R_WRONG_VERSION_NUMBER:
    case SSL_R_UNKNOWN_PROTOCOL:
    case SSL_R_PACKET_LENGTH_TOO_LONG: return refusal::plaintext;
    case SSL_R_CERTIFICATE_VERIFY_FAILED: return refusal::unknown_ca;  // without a verify result: the chain
    case SSL_R_UNEXPECTED_EOF_WHILE_READING: return refusal::closed_early;
    default: break;
  }
  if (reason > SSL_AD_REASON_OFFSET && certificate_alert(reason)) return refusal::client_refused_us;
  return refusal::other;
}

std::string refusal_detail(const HandshakeFailure& failure) {
  std::string detail;
  if (failure.ssl_error != 0) {
    char text[256] = {};
    ERR_error_string_n(failure.ssl_error, text, sizeof text);
    detail = text;
  } else if (failure.end_of_stream) {
    detail = "the client closed the connection during the handshake";
  }
  if (failure.verify_result != X509_V_OK) {
    if (!detail.empty()) detail += ": ";
    detail += "certificate verification: ";
    detail += X509_verify_cert_error_string(failure.verify_result);
  }
  return detail.empty() ? "no error reported" : detail;
}

std::string certificate_common_name(X509* certificate) {
  char name[256] = {};
  const int length = X509_NAME_get_text_by_NID(X509_get_subject_name(certificate), NID_commonName, name, sizeof name);
  return length > 0 ? std::string(name, static_cast<std::size_t>(length)) : std::string();
}

std::string describe_certificate(X509* certificate) {
  std::string text = "CN=" + certificate_common_name(certificate);
  auto* names = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(certificate, NID_subject_alt_name, nullptr, nullptr));
  for (int i = 0; names && i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* entry = sk_GENERAL_NAME_value(names, i);
    if (entry->type != GEN_DNS) continue;
    const ASN1_STRING* dns = entry->d.dNSName;
    text += ", DNS:" + std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(dns)),
                                   static_cast<std::size_t>(ASN1_STRING_length(dns)));
  }
  GENERAL_NAMES_free(names);
  return text;
}

}  // namespace jarvis::tls
