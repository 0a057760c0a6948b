#include "tls/certificates.hpp"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <ctime>
#include <memory>

namespace jarvis::tls {

namespace {

template <auto Free>
struct Deleter {
  template <typename T>
  void operator()(T* p) const {
    Free(p);
  }
};
using BioPtr = std::unique_ptr<BIO, Deleter<BIO_free_all>>;
using KeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY_free>>;
using X509Ptr = std::unique_ptr<X509, Deleter<X509_free>>;
using BignumPtr = std::unique_ptr<BIGNUM, Deleter<BN_free>>;
using StorePtr = std::unique_ptr<X509_STORE, Deleter<X509_STORE_free>>;
using StoreContextPtr = std::unique_ptr<X509_STORE_CTX, Deleter<X509_STORE_CTX_free>>;
using NamesPtr = std::unique_ptr<GENERAL_NAMES, Deleter<GENERAL_NAMES_free>>;

// The first queued OpenSSL error as text (the queue is emptied), after `what`.
Error openssl_error(std::string_view what) {
  std::string message(what);
  if (const unsigned long code = ERR_get_error(); code != 0) {
    char text[256];
    ERR_error_string_n(code, text, sizeof text);
    message += ": ";
    message += text;
  }
  ERR_clear_error();
  return Error{std::move(message)};
}

Result<X509Ptr> read_certificate(std::string_view pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return openssl_error("cannot read certificate");
  X509Ptr certificate(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!certificate) return openssl_error("not a PEM certificate");
  return certificate;
}

Result<KeyPtr> read_private_key(std::string_view pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return openssl_error("cannot read private key");
  KeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!key) return openssl_error("not a PEM private key");
  return key;
}

Result<std::string> bio_text(BIO* bio) {
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio, &data);
  if (size <= 0 || data == nullptr) return openssl_error("empty PEM output");
  return std::string(data, static_cast<std::size_t>(size));
}

Result<KeyPair> to_pem(X509* certificate, EVP_PKEY* key) {
  BioPtr cert_bio(BIO_new(BIO_s_mem()));
  BioPtr key_bio(BIO_new(BIO_s_mem()));
  if (!cert_bio || !key_bio || PEM_write_bio_X509(cert_bio.get(), certificate) != 1 ||
      PEM_write_bio_PrivateKey(key_bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return openssl_error("cannot write PEM");
  }
  auto cert_pem = bio_text(cert_bio.get());
  if (!cert_pem) return cert_pem.error();
  auto key_pem = bio_text(key_bio.get());
  if (!key_pem) return key_pem.error();
  return KeyPair{std::move(*cert_pem), std::move(*key_pem)};
}

Result<KeyPtr> generate_key() {
  KeyPtr key(EVP_EC_gen("P-256"));
  if (!key) return openssl_error("cannot generate an ECDSA P-256 key");
  return key;
}

std::time_t to_time_t(Clock::time_point t) { return Clock::to_time_t(t); }

// A new certificate with a random 127-bit serial, the subject CN, the validity window and the public key.
Result<X509Ptr> new_certificate(std::string_view common_name, EVP_PKEY* key, std::chrono::seconds lifetime,
                                Clock::time_point now) {
  X509Ptr certificate(X509_new());
  BignumPtr serial(BN_new());
  if (!certificate || !serial || BN_rand(serial.get(), 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1 ||
      BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(certificate.get())) == nullptr ||
      X509_set_version(certificate.get(), X509_VERSION_3) != 1) {
    return openssl_error("cannot create a certificate");
  }
  const auto not_before = now - std::min<Clock::duration>(backdate, lifetime / 10);
  const auto not_after = now + lifetime;
  if (ASN1_TIME_set(X509_getm_notBefore(certificate.get()), to_time_t(not_before)) == nullptr ||
      ASN1_TIME_set(X509_getm_notAfter(certificate.get()), to_time_t(not_after)) == nullptr) {
    return openssl_error("cannot set the validity period");
  }
  X509_NAME* subject = X509_get_subject_name(certificate.get());
  const std::string cn(common_name);
  if (X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(cn.c_str()),
                                 -1, -1, 0) != 1 ||
      X509_set_pubkey(certificate.get(), key) != 1) {
    return openssl_error("cannot set the subject");
  }
  return certificate;
}

Status add_extension(X509* certificate, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX context;
  X509V3_set_ctx_nodb(&context);
  X509V3_set_ctx(&context, issuer, certificate, nullptr, nullptr, 0);
  X509_EXTENSION* extension = X509V3_EXT_conf_nid(nullptr, &context, nid, value.c_str());
  if (extension == nullptr) return openssl_error("cannot make extension " + value);
  const int added = X509_add_ext(certificate, extension, -1);
  X509_EXTENSION_free(extension);
  if (added != 1) return openssl_error("cannot add extension " + value);
  return Ok{};
}

Status sign(X509* certificate, EVP_PKEY* key) {
  if (X509_sign(certificate, key, EVP_sha256()) == 0) return openssl_error("cannot sign the certificate");
  return Ok{};
}

Clock::time_point from_asn1(const ASN1_TIME* time) {
  std::tm tm{};
  if (ASN1_TIME_to_tm(time, &tm) != 1) return Clock::time_point{};
  return Clock::from_time_t(timegm(&tm));
}

}  // namespace

Result<KeyPair> make_certificate_authority(std::string_view common_name, std::chrono::seconds lifetime,
                                           Clock::time_point now) {
  auto key = generate_key();
  if (!key) return key.error();
  auto certificate = new_certificate(common_name, key->get(), lifetime, now);
  if (!certificate) return certificate.error();
  X509* cert = certificate->get();
  if (X509_set_issuer_name(cert, X509_get_subject_name(cert)) != 1) return openssl_error("cannot set the issuer");
  for (const auto& [nid, value] : {std::pair{NID_basic_constraints, "critical,CA:TRUE,pathlen:0"},
                                   std::pair{NID_key_usage, "critical,keyCertSign,cRLSign"},
                                   std::pair{NID_subject_key_identifier, "hash"}}) {
    if (auto added = add_extension(cert, cert, nid, value); !added) return added.error();
  }
  if (auto signed_ok = sign(cert, key->get()); !signed_ok) return signed_ok.error();
  return to_pem(cert, key->get());
}

Result<KeyPair> issue_certificate(const KeyPair& ca, std::string_view identity, Usage usage,
                                  std::chrono::seconds lifetime, Clock::time_point now) {
  auto ca_certificate = read_certificate(ca.certificate_pem);
  if (!ca_certificate) return Error{"CA certificate: " + ca_certificate.error().message};
  auto ca_key = read_private_key(ca.private_key_pem);
  if (!ca_key) return Error{"CA private key: " + ca_key.error().message};
  if (X509_check_private_key(ca_certificate->get(), ca_key->get()) != 1) {
    return openssl_error("the CA private key does not match the CA certificate");
  }
  auto key = generate_key();
  if (!key) return key.error();
  auto certificate = new_certificate(identity, key->get(), lifetime, now);
  if (!certificate) return certificate.error();
  X509* cert = certificate->get();
  if (X509_set_issuer_name(cert, X509_get_subject_name(ca_certificate->get())) != 1) {
    return openssl_error("cannot set the issuer");
  }
  const std::string extended_usage = usage == Usage::server ? "serverAuth" : "clientAuth";
  for (const auto& [nid, value] : {std::pair{NID_basic_constraints, std::string("critical,CA:FALSE")},
                                   std::pair{NID_key_usage, std::string("critical,digitalSignature")},
                                   std::pair{NID_ext_key_usage, extended_usage},
                                   std::pair{NID_subject_alt_name, "DNS:" + std::string(identity)},
                                   std::pair{NID_authority_key_identifier, std::string("keyid:always")}}) {
    if (auto added = add_extension(cert, ca_certificate->get(), nid, value); !added) return added.error();
  }
  if (auto signed_ok = sign(cert, ca_key->get()); !signed_ok) return signed_ok.error();
  return to_pem(cert, key->get());
}

Result<CertificateInfo> inspect_certificate(std::string_view certificate_pem) {
  auto certificate = read_certificate(certificate_pem);
  if (!certificate) return certificate.error();
  X509* cert = certificate->get();
  CertificateInfo info;
  char name[256] = {};
  if (X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, name, sizeof name) > 0) {
    info.common_name = name;
  }
  if (NamesPtr names(static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)));
      names) {
    for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
      const GENERAL_NAME* entry = sk_GENERAL_NAME_value(names.get(), i);
      if (entry->type != GEN_DNS) continue;
      const ASN1_IA5STRING* dns = entry->d.dNSName;
      info.dns_names.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(dns)),
                                  static_cast<std::size_t>(ASN1_STRING_length(dns)));
    }
  }
  info.not_before = from_asn1(X509_get0_notBefore(cert));
  info.not_after = from_asn1(X509_get0_notAfter(cert));
  info.is_ca = X509_check_ca(cert) != 0;
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (X509_digest(cert, EVP_sha256(), digest, &length) != 1) return openssl_error("cannot hash the certificate");
  static constexpr char hex[] = "0123456789abcdef";
  for (unsigned int i = 0; i < length; ++i) {
    info.sha256_fingerprint += hex[digest[i] >> 4];
    info.sha256_fingerprint += hex[digest[i] & 0xF];
  }
  return info;
}

Status verify_key_pair(const KeyPair& pair, std::string_view ca_certificate_pem, Clock::time_point now) {
  auto certificate = read_certificate(pair.certificate_pem);
  if (!certificate) return Error{"certificate: " + certificate.error().message};
  auto key = read_private_key(pair.private_key_pem);
  if (!key) return Error{"private key: " + key.error().message};
  if (X509_check_private_key(certificate->get(), key->get()) != 1) {
    return openssl_error("the private key does not match the certificate");
  }
  auto ca = read_certificate(ca_certificate_pem);
  if (!ca) return Error{"CA certificate: " + ca.error().message};
  StorePtr store(X509_STORE_new());
  StoreContextPtr context(X509_STORE_CTX_new());
  if (!store || !context || X509_STORE_add_cert(store.get(), ca->get()) != 1 ||
      X509_STORE_CTX_init(context.get(), store.get(), certificate->get(), nullptr) != 1) {
    return openssl_error("cannot set up certificate verification");
  }
  X509_STORE_CTX_set_time(context.get(), 0, to_time_t(now));
  if (X509_verify_cert(context.get()) != 1) {
    const int code = X509_STORE_CTX_get_error(context.get());
    ERR_clear_error();
    return Error{std::string("the certificate does not verify against the CA: ") +
                 X509_verify_cert_error_string(code)};
  }
  return Ok{};
}

Clock::time_point renewal_time(const CertificateInfo& info) {
  return info.not_before + (info.not_after - info.not_before) * 2 / 3;
}

bool needs_renewal(const CertificateInfo& info, Clock::time_point now) { return now >= renewal_time(info); }

}  // namespace jarvis::tls
