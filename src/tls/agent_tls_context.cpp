#include "tls/agent_tls_context.hpp"

#include <sys/stat.h>

#include <boost/asio/buffer.hpp>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "tls/identities.hpp"

namespace jarvis::tls {

namespace ssl = boost::asio::ssl;

namespace {

constexpr unsigned char h2[] = {'h', '2'};
constexpr unsigned char session_context[] = "jarvis-agent";

// Picks "h2" when the client offers it; a client that offers only other protocols gets no ALPN answer (it
// cannot speak gRPC, and its request is refused by the gRPC server rather than by TLS).
int select_h2(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in, unsigned int inlen,
              void*) {
  for (unsigned int i = 0; i < inlen;) {
    const unsigned int length = in[i];
    if (i + 1 + length > inlen) break;
    if (length == sizeof h2 && std::equal(h2, h2 + sizeof h2, in + i + 1)) {
      *out = in + i + 1;
      *outlen = static_cast<unsigned char>(length);
      return SSL_TLSEXT_ERR_OK;
    }
    i += 1 + length;
  }
  return SSL_TLSEXT_ERR_NOACK;
}

std::string openssl_error(const boost::system::error_code& ec) { return ec.message(); }

// What identifies the current set of files: each one's resolved path (the `..data` version directory), size
// and modification time. Empty when a file is missing.
std::string files_stamp(const std::filesystem::path& directory) {
  std::string stamp;
  for (const std::string_view name : {ca_file, certificate_file, private_key_file}) {
    std::error_code ec;
    const auto resolved = std::filesystem::canonical(directory / name, ec);
    struct stat st {};
    if (ec || ::stat(resolved.c_str(), &st) != 0) return {};
    stamp += resolved.string() + ":" + std::to_string(st.st_size) + ":" + std::to_string(st.st_ino) + ":" +
             std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec) + ";";
  }
  return stamp;
}

// What both sides load: TLS 1.2 at least, this side's certificate and key, the CA its peer must chain to, and
// the peer's identity as the one DNS name accepted (X509_V_ERR_HOSTNAME_MISMATCH otherwise; the subject's CN is
// not looked at, wildcards do not match).
Result<std::shared_ptr<ssl::context>> make_context(const TlsFiles& files, ssl::context::method method,
                                                   std::string_view peer_identity) {
  auto ctx = std::make_shared<ssl::context>(method);
  boost::system::error_code ec;
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                       ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::single_dh_use,
                   ec);
  SSL_CTX* native = ctx->native_handle();
  if (SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION) != 1) return Error{"cannot require TLS 1.2"};
  ctx->use_certificate_chain(boost::asio::buffer(files.identity.certificate_pem), ec);
  if (ec) return Error{std::string(certificate_file) + " is not a usable PEM certificate: " + openssl_error(ec)};
  ctx->use_private_key(boost::asio::buffer(files.identity.private_key_pem), ssl::context::pem, ec);
  if (ec) return Error{std::string(private_key_file) + " is not a usable key for " + std::string(certificate_file) +
                       ": " + openssl_error(ec)};
  if (SSL_CTX_check_private_key(native) != 1)
    return Error{std::string(private_key_file) + " does not match " + std::string(certificate_file)};
  ctx->add_certificate_authority(boost::asio::buffer(files.ca_certificate_pem), ec);
  if (ec) return Error{std::string(ca_file) + " is not a usable PEM certificate: " + openssl_error(ec)};
  ctx->set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert, ec);
  X509_VERIFY_PARAM* param = SSL_CTX_get0_param(native);
  X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NEVER_CHECK_SUBJECT | X509_CHECK_FLAG_NO_WILDCARDS);
  if (X509_VERIFY_PARAM_set1_host(param, peer_identity.data(), peer_identity.size()) != 1)
    return Error{"cannot set the expected peer identity"};
  return ctx;
}

}  // namespace

Result<std::shared_ptr<ssl::context>> make_agent_server_context(const TlsFiles& files) {
  // The client must be the controller.
  auto made = make_context(files, ssl::context::tls_server, controller_identity);
  if (!made) return made.error();
  auto ctx = std::move(*made);
  SSL_CTX* native = ctx->native_handle();
  SSL_CTX_set_alpn_select_cb(native, select_h2, nullptr);
  SSL_CTX_set_session_cache_mode(native, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_options(native, SSL_OP_NO_TICKET);
  SSL_CTX_set_num_tickets(native, 0);
  SSL_CTX_set_session_id_context(native, session_context, sizeof session_context - 1);
  return ctx;
}

Result<std::shared_ptr<ssl::context>> make_controller_client_context(const TlsFiles& files) {
  // The server must be an agent (OpenSSL's client side checks the purpose "SSL server" itself).
  auto made = make_context(files, ssl::context::tls_client, agent_identity);
  if (!made) return made.error();
  auto ctx = std::move(*made);
  SSL_CTX* native = ctx->native_handle();
  // "h2" in ALPN's wire format: a length, then the name.
  constexpr unsigned char offered[] = {2, 'h', '2'};
  if (SSL_CTX_set_alpn_protos(native, offered, sizeof offered) != 0) return Error{"cannot offer ALPN h2"};
  SSL_CTX_set_session_cache_mode(native, SSL_SESS_CACHE_OFF);
  // A controller holds an agent connection per execution in flight, a thousand on a big fleet: OpenSSL's read and
  // write buffers (about 34 KiB) are freed whenever a connection has nothing buffered.
  SSL_CTX_set_mode(native, SSL_MODE_RELEASE_BUFFERS);
  // An agent that closes without close_notify ends the stream like one that sends it (the relay passes it on).
  SSL_CTX_set_options(native, SSL_OP_IGNORE_UNEXPECTED_EOF);
  return ctx;
}

AgentTlsContext::AgentTlsContext(std::filesystem::path directory, TlsSide side)
    : directory_(std::move(directory)), side_(side) {}

AgentTlsContext::Refreshed AgentTlsContext::refresh() {
  const std::string stamp = files_stamp(directory_);
  // Unchanged and in use: nothing to do. A set that failed is tried again (its problem may be the clock).
  {
    std::lock_guard lock(mu_);
    if (context_ && last_error_.empty() && stamp == seen_) return {};
  }
  seen_ = stamp;
  const auto fail = [this](std::string why) -> Refreshed {
    std::lock_guard lock(mu_);
    if (why == last_error_) return {};
    last_error_ = why;
    return {.reloaded = false, .failed = std::move(why)};
  };
  if (stamp.empty()) return fail("ca.crt, tls.crt or tls.key is missing in " + directory_.string());
  auto files = read_tls_directory(directory_);
  if (!files) return fail(files.error().message);
  auto info = inspect_certificate(files->identity.certificate_pem);
  if (!info) return fail(std::string(certificate_file) + ": " + info.error().message);
  if (auto usable = verify_key_pair(files->identity, files->ca_certificate_pem, Clock::now()); !usable)
    return fail(usable.error().message);
  auto context = side_ == TlsSide::agent_server ? make_agent_server_context(*files)
                                                : make_controller_client_context(*files);
  if (!context) return fail(context.error().message);
  std::lock_guard lock(mu_);
  context_ = std::move(*context);
  not_before_ = info->not_before;
  not_after_ = info->not_after;
  last_error_.clear();
  return {.reloaded = true, .failed = std::nullopt};
}

std::shared_ptr<ssl::context> AgentTlsContext::current() const {
  std::lock_guard lock(mu_);
  return context_;
}

std::optional<std::string> AgentTlsContext::not_ready(Clock::time_point now) const {
  std::lock_guard lock(mu_);
  if (!context_) {
    return "no usable TLS files in " + directory_.string() + (last_error_.empty() ? "" : ": " + last_error_);
  }
  if (!last_error_.empty())
    return "TLS files in " + directory_.string() + " cannot be used (" + last_error_ +
           "); new connections still get the last usable ones";
  if (now < not_before_ || now >= not_after_)
    return "the certificate in use (" + directory_.string() + "/" + std::string(certificate_file) +
           ") is outside its validity; waiting for renewed files";
  return std::nullopt;
}

}  // namespace jarvis::tls
