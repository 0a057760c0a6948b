// The agent's server-side TLS context (agent_tls_context.hpp) in real handshakes with OpenSSL clients over a
// local socket pair, and the refusal reason each failed handshake is classified as (handshake_refusal.hpp):
// from OpenSSL's own results, never from text. Also its reload when the TLS directory's files change.
#include <catch2/catch.hpp>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/connect_pair.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/ssl/stream.hpp>

#include "support/temporary_directory.hpp"
#include "tls/agent_tls_context.hpp"
#include "tls/handshake_refusal.hpp"
#include "tls/identities.hpp"

using namespace jarvis::tls;
using namespace std::chrono_literals;
namespace asio = boost::asio;
namespace ssl = asio::ssl;

namespace {

struct Pki {
  Pki() {
    const auto now = Clock::now();
    ca = *make_certificate_authority("jarvis-ca", 24h, now);
    other_ca = *make_certificate_authority("jarvis-ca", 24h, now);
    agent = *issue_certificate(ca, agent_identity, Usage::server, 1h, now);
    controller = *issue_certificate(ca, controller_identity, Usage::client, 1h, now);
    expired_controller = *issue_certificate(ca, controller_identity, Usage::client, 1h, now - 3h);
    admin = *issue_certificate(ca, "jarvis-admin", Usage::client, 1h, now);
    other_controller = *issue_certificate(other_ca, controller_identity, Usage::client, 1h, now);
  }
  KeyPair ca, other_ca, agent, controller, expired_controller, admin, other_controller;
};

const Pki& pki() {
  static const Pki p;
  return p;
}

struct Outcome {
  boost::system::error_code server;
  long verify_result = X509_V_OK;
  std::string alpn;  // what the client got selected
  std::string reason() const {
    HandshakeFailure failure{.ssl_error = server.category() == asio::error::get_ssl_category()
                                              ? static_cast<unsigned long>(static_cast<unsigned int>(server.value()))
                                              : 0UL,
                             .verify_result = verify_result,
                             .end_of_stream = false};
    return std::string(refusal_reason(failure));
  }
};

// A handshake of the agent's context with a gRPC-like client (ALPN h2, trusting the Jarvis CA) presenting
// `client` (or no certificate).
Outcome handshake(ssl::context& server_context, const KeyPair* client) {
  asio::io_context io;
  asio::local::stream_protocol::socket a(io), b(io);
  asio::local::connect_pair(a, b);
  ssl::context client_context(ssl::context::tls_client);
  client_context.add_certificate_authority(asio::buffer(pki().ca.certificate_pem));
  client_context.set_verify_mode(ssl::verify_peer);
  if (client) {
    client_context.use_certificate_chain(asio::buffer(client->certificate_pem));
    client_context.use_private_key(asio::buffer(client->private_key_pem), ssl::context::pem);
  }
  static constexpr unsigned char protocols[] = {2, 'h', '2'};
  SSL_CTX_set_alpn_protos(client_context.native_handle(), protocols, sizeof protocols);
  ssl::stream<asio::local::stream_protocol::socket&> server(a, server_context), tls_client(b, client_context);
  Outcome outcome;
  server.async_handshake(ssl::stream_base::server, [&](const boost::system::error_code& ec) {
    outcome.server = ec;
    outcome.verify_result = SSL_get_verify_result(server.native_handle());
    boost::system::error_code ignored;
    a.close(ignored);  // a client still waiting for the server's last word sees the end
  });
  tls_client.async_handshake(ssl::stream_base::client, [&](const boost::system::error_code& ec) {
    if (ec) return;
    const unsigned char* selected = nullptr;
    unsigned int length = 0;
    SSL_get0_alpn_selected(tls_client.native_handle(), &selected, &length);
    outcome.alpn.assign(reinterpret_cast<const char*>(selected), length);
  });
  io.run();
  return outcome;
}

std::shared_ptr<ssl::context> agent_context() {
  auto context = make_agent_server_context(TlsFiles{pki().ca.certificate_pem, pki().agent});
  REQUIRE(context.ok());
  return *context;
}

}  // namespace

TEST_CASE("the agent's context accepts the controller's certificate from the Jarvis CA and selects h2", "[tls]") {
  auto context = agent_context();
  const auto outcome = handshake(*context, &pki().controller);
  CHECK_FALSE(outcome.server);
  CHECK(outcome.alpn == "h2");
}

TEST_CASE("each refused client certificate is classified from OpenSSL's results", "[tls]") {
  auto context = agent_context();
  CHECK(handshake(*context, nullptr).reason() == refusal::no_certificate);
  CHECK(handshake(*context, &pki().other_controller).reason() == refusal::unknown_ca);
  CHECK(handshake(*context, &pki().agent).reason() == refusal::wrong_purpose);  // serverAuth only
  CHECK(handshake(*context, &pki().admin).reason() == refusal::wrong_identity);
  CHECK(handshake(*context, &pki().expired_controller).reason() == refusal::expired);
}

TEST_CASE("refusal reasons come from OpenSSL's codes; plaintext from the first bytes", "[tls]") {
  const auto ssl_error = [](int reason) { return static_cast<unsigned long>(ERR_PACK(ERR_LIB_SSL, 0, reason)); };
  CHECK(refusal_reason({.ssl_error = ssl_error(SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE)}) == refusal::no_certificate);
  CHECK(refusal_reason({.ssl_error = ssl_error(SSL_R_HTTP_REQUEST)}) == refusal::plaintext);
  CHECK(refusal_reason({.ssl_error = ssl_error(SSL_R_WRONG_VERSION_NUMBER)}) == refusal::plaintext);
  CHECK(refusal_reason({.ssl_error = ssl_error(SSL_R_CERTIFICATE_VERIFY_FAILED),
                        .verify_result = X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT}) == refusal::unknown_ca);
  CHECK(refusal_reason({.ssl_error = ssl_error(SSL_R_CERTIFICATE_VERIFY_FAILED),
                        .verify_result = X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY}) == refusal::unknown_ca);
  CHECK(refusal_reason({.ssl_error = ssl_error(SSL_R_CERTIFICATE_VERIFY_FAILED),
                        .verify_result = X509_V_ERR_HOSTNAME_MISMATCH}) == refusal::wrong_identity);
  CHECK(refusal_reason({.verify_result = X509_V_ERR_CERT_NOT_YET_VALID}) == refusal::not_yet_valid);
  CHECK(refusal_reason({.ssl_error = ssl_error(SSL_AD_REASON_OFFSET + SSL_AD_UNKNOWN_CA)}) ==
        refusal::client_refused_us);
  CHECK(refusal_reason({.ssl_error = ssl_error(SSL_R_NO_SHARED_CIPHER)}) == refusal::other);
  CHECK(refusal_reason({.end_of_stream = true}) == refusal::closed_early);
  CHECK(refusal_detail({.verify_result = X509_V_ERR_CERT_HAS_EXPIRED}).find("expired") != std::string::npos);

  const auto tls = [](std::initializer_list<unsigned char> bytes) {
    return starts_like_tls(std::span<const unsigned char>(bytes.begin(), bytes.size()));
  };
  CHECK(tls({0x16, 0x03, 0x01, 0x02, 0x00}));  // a ClientHello's record header
  CHECK(tls({0x16}));                          // only one byte arrived yet
  CHECK_FALSE(tls({'G', 'E', 'T', ' '}));
  CHECK_FALSE(tls({'P', 'R', 'I', ' '}));      // an HTTP/2 (plaintext gRPC) preface
  CHECK_FALSE(tls({0x16, 0x04}));
  CHECK_FALSE(tls({}));
}

TEST_CASE("the agent's context follows its TLS directory and keeps the last usable files", "[tls]") {
  jarvis::test::TemporaryDirectory tmp;
  const auto dir = tmp.path() / "tls";
  AgentTlsContext context(dir);
  const auto missing = context.refresh();
  CHECK_FALSE(missing.reloaded);
  REQUIRE(missing.failed);
  CHECK(context.not_ready(Clock::now()));
  CHECK_FALSE(context.refresh().failed);  // the same problem is said once

  REQUIRE(write_tls_directory(dir, TlsFiles{pki().ca.certificate_pem, pki().agent}).ok());
  CHECK(context.refresh().reloaded);
  CHECK_FALSE(context.not_ready(Clock::now()));
  const auto first = context.current();
  CHECK_FALSE(context.refresh().reloaded);  // unchanged
  CHECK(context.current() == first);

  // A key that does not match its certificate: refused, the last good context stays.
  REQUIRE(write_tls_directory(dir, TlsFiles{pki().ca.certificate_pem,
                                            KeyPair{pki().agent.certificate_pem, pki().controller.private_key_pem}})
              .ok());
  const auto broken = context.refresh();
  CHECK_FALSE(broken.reloaded);
  REQUIRE(broken.failed);
  CHECK(context.current() == first);
  // Still serving with the last usable set, but not ready: a restart would not serve.
  REQUIRE(context.not_ready(Clock::now()));
  CHECK(context.not_ready(Clock::now())->find("cannot be used") != std::string::npos);

  // A new CA and certificate (the CA rotated): used from then on.
  const auto now = Clock::now();
  const auto new_ca = *make_certificate_authority("jarvis-ca", 24h, now);
  const auto new_agent = *issue_certificate(new_ca, agent_identity, Usage::server, 1h, now);
  REQUIRE(write_tls_directory(dir, TlsFiles{new_ca.certificate_pem, new_agent}).ok());
  CHECK(context.refresh().reloaded);
  CHECK(context.current() != first);
  CHECK_FALSE(context.not_ready(Clock::now()));
  // A client that still trusts only the old CA refuses the new certificate (its TLS alert, as OpenSSL reports it).
  CHECK(handshake(*context.current(), &pki().controller).reason() == refusal::client_refused_us);
  // Past its validity the loaded certificate makes the context not ready.
  CHECK(context.not_ready(now + 2h));
}
