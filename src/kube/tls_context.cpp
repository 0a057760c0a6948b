#include "kube/tls_context.hpp"

#include <boost/asio/buffer.hpp>

#include <openssl/err.h>
#include <openssl/x509.h>

namespace jarvis::kube {

namespace ssl = boost::asio::ssl;

Result<std::shared_ptr<ssl::context>> make_tls_context(const ClusterConfig& config) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
  boost::system::error_code ec;
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                       ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1,
                   ec);
  if (!config.ca_pem.empty()) {
    ctx->add_certificate_authority(boost::asio::buffer(config.ca_pem), ec);
    if (ec) return Error{config.source + ": certificate authority is not a valid PEM certificate: " + ec.message()};
  } else if (ctx->set_default_verify_paths(ec); ec) {
    return Error{config.source + ": cannot load the system CA certificates: " + ec.message()};
  }
  ctx->set_verify_mode(config.insecure_skip_verify ? ssl::verify_none : ssl::verify_peer, ec);
  if (config.client_cert_pem.empty() != config.client_key_pem.empty()) {
    return Error{config.source + ": a client certificate needs its key and a key its certificate"};
  }
  if (!config.client_cert_pem.empty()) {
    ctx->use_certificate_chain(boost::asio::buffer(config.client_cert_pem), ec);
    if (ec) return Error{config.source + ": client certificate is not a valid PEM certificate: " + ec.message()};
    ctx->use_private_key(boost::asio::buffer(config.client_key_pem), ssl::context::pem, ec);
    if (ec && ERR_GET_REASON(static_cast<unsigned long>(ec.value())) == X509_R_KEY_VALUES_MISMATCH) {
      return Error{config.source + ": client key does not match the client certificate"};
    }
    if (ec) return Error{config.source + ": client key is not a valid PEM private key: " + ec.message()};
  }
  return ctx;
}

}  // namespace jarvis::kube
