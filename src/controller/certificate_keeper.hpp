// Keeps the mutual-TLS material of Jarvis current, with nothing for the user to set up:
// - Secret <namespace>/jarvis-ca (ca.crt, ca.key): the Jarvis CA. Created once, with a create, so two
//   controllers starting together cannot make two CAs: the one that gets 409 AlreadyExists uses the winner's.
//   Never overwritten: a CA Secret that is not usable is reported, with the fix, and left to the admin.
// - Secret <namespace>/jarvis-agent-tls (ca.crt, tls.crt, tls.key): the agents' certificate, mounted by the
//   DaemonSet. Re-issued when missing, invalid, issued by another CA, or in the last third of its lifetime;
//   written with the resourceVersion it was read at (a 409 means another controller changed it: re-read).
// - The controller's own client certificate: issued in memory and written only to --tls-dir, which gRPC
//   re-reads (tls_directory.hpp).
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include <boost/asio/awaitable.hpp>

#include "common/log.hpp"
#include "common/result.hpp"
#include "kube/client.hpp"
#include "tls/certificates.hpp"

namespace jarvis::controller {

inline constexpr std::string_view ca_secret_name = "jarvis-ca";
inline constexpr std::string_view agent_tls_secret_name = "jarvis-agent-tls";

struct CertificateSettings {
  std::string namespace_name = "jarvis";
  std::string tls_dir;                                    // the controller's own files
  std::chrono::seconds certificate_lifetime{90 * 86400};  // agent and controller certificates
  std::chrono::seconds ca_lifetime{10 * 365 * 86400};
  std::chrono::seconds recheck_every{600};                 // notices deleted or replaced Secrets
};

class CertificateKeeper {
 public:
  CertificateKeeper(kube::Client& api, CertificateSettings settings, Logger& log);

  // One pass: makes sure the CA, the agents' Secret and the controller's own files are usable now.
  // Returns when to look again (the earliest renewal time, at most recheck_every away).
  boost::asio::awaitable<Result<tls::Clock::time_point>> ensure();

  // ensure() now and whenever it is due, until cancelled; failures are logged and retried with backoff.
  boost::asio::awaitable<void> run();

  // Whether a pass of run() has succeeded: the controller's certificate files exist and agents can trust it.
  bool ready() const { return ready_; }

 private:
  boost::asio::awaitable<Result<tls::KeyPair>> ensure_ca();
  boost::asio::awaitable<Result<tls::CertificateInfo>> ensure_agent_secret(const tls::KeyPair& ca);
  Result<tls::CertificateInfo> ensure_own_files(const tls::KeyPair& ca);
  std::string secret_path(std::string_view name) const;

  kube::Client& api_;
  CertificateSettings settings_;
  Logger& log_;
  std::optional<tls::KeyPair> own_;
  std::optional<tls::CertificateInfo> own_info_;
  std::string own_ca_pem_;
  std::string ca_fingerprint_;
  bool ready_ = false;
};

}  // namespace jarvis::controller
