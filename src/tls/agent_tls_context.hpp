// The TLS contexts of the connections between the controller and the agents (OpenSSL, through Asio), built from
// the files of a TLS directory and rebuilt when they change. The agent's side (the server):
// - TLS 1.2 at least; the agent's certificate and key from tls.crt and tls.key;
// - a client certificate is required and verified against ca.crt, for client use (OpenSSL's server side checks
//   the purpose "SSL client" itself), naming the controller's identity as a DNS name (identities.hpp; the
//   subject's CN is not looked at, wildcards do not match): the rule gRPC's verifier applies on the controller;
// - ALPN selects "h2", which gRPC clients require of the server;
// - no session resumption: every connection shows its certificate.
// The controller's side (the client), one context shared by all its agent connections (tls_client_stream.hpp):
// - TLS 1.2 at least; the controller's certificate and key; the agent's certificate verified against ca.crt, for
//   server use, naming the agents' identity as a DNS name (the same rule, the other way round);
// - ALPN offers "h2"; no session cache; OpenSSL's buffers released while a connection is idle.
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <boost/asio/ssl/context.hpp>

#include "common/result.hpp"
#include "tls/certificates.hpp"
#include "tls/tls_directory.hpp"

namespace jarvis::tls {

Result<std::shared_ptr<boost::asio::ssl::context>> make_agent_server_context(const TlsFiles& files);
Result<std::shared_ptr<boost::asio::ssl::context>> make_controller_client_context(const TlsFiles& files);

// Which side of the agent connections a context is for.
enum class TlsSide { agent_server, controller_client };

// Keeps the context of a TLS directory current. refresh() looks at the files (a few stat calls through the
// `..data` symlink) and rebuilds the context when they changed; a set that cannot be used keeps the last good
// context, and refresh() says why once per set. refresh() is called from one thread; current() and
// not_ready() from any.
class AgentTlsContext {
 public:
  explicit AgentTlsContext(std::filesystem::path directory, TlsSide side = TlsSide::agent_server);

  struct Refreshed {
    bool reloaded = false;              // a new context is in use
    std::optional<std::string> failed;  // the files changed but cannot be used (reported once per change)
  };
  Refreshed refresh();

  // The context in use (null before a set of files was usable). Connections keep the context they started with.
  std::shared_ptr<boost::asio::ssl::context> current() const;

  // Why this context is not ready, if it is not: none loaded yet, the files changed into a set that cannot be
  // used (the last usable context still serves, but a restart would not), or the certificate in use is outside
  // its validity.
  std::optional<std::string> not_ready(Clock::time_point now) const;

  const std::filesystem::path& directory() const { return directory_; }

 private:
  std::filesystem::path directory_;
  TlsSide side_;
  mutable std::mutex mu_;  // guards what current() and not_ready() read
  std::string seen_;  // what the files were (resolved paths, sizes, times) when last looked at
  std::shared_ptr<boost::asio::ssl::context> context_;
  Clock::time_point not_before_{}, not_after_{};
  std::string last_error_;
};

}  // namespace jarvis::tls
