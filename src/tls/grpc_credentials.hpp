// Transport security towards the agents: mutual TLS over the files of a TLS directory (tls_directory.hpp),
// re-read every `refresh_interval` so renewed certificates are used for new connections without a restart, or
// plaintext only when `insecure` is set, which the roles ask for explicitly. Neither role uses gRPC's TLS: the
// agent terminates TLS itself (agent/tls_front.hpp), the controller opens its own (controller/agent_connector.hpp),
// both on agent_tls_context.hpp. The gRPC credentials here are for the test tools (jarvis-agentctl): the same
// rule, the agent's certificate must chain to the Jarvis CA in ca.crt and name the agents' identity.
#pragma once

#include <memory>
#include <string>

#include <grpcpp/security/auth_context.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>

namespace jarvis::tls {

struct TransportSecurity {
  bool insecure = false;
  std::string directory;                  // holds ca.crt, tls.crt, tls.key
  unsigned refresh_interval_seconds = 60;

  static TransportSecurity plaintext() {
    TransportSecurity t;
    t.insecure = true;
    return t;
  }
  static TransportSecurity mutual_tls(std::string directory, unsigned refresh_interval_seconds = 60) {
    TransportSecurity t;
    t.directory = std::move(directory);
    t.refresh_interval_seconds = refresh_interval_seconds;
    return t;
  }
};

// A client with explicit files (test tools): `certificate_path`/`key_path` may be empty (no client
// certificate). The server must chain to `ca_path` and name `server_identity`.
std::shared_ptr<grpc::ChannelCredentials> client_credentials(const std::string& ca_path,
                                                             const std::string& certificate_path,
                                                             const std::string& key_path,
                                                             const std::string& server_identity,
                                                             unsigned refresh_interval_seconds);

// Channel arguments for a TLS channel to an agent: the name the TLS layer uses (SNI) is the agents'
// identity, not the endpoint's address.
void add_agent_channel_arguments(grpc::ChannelArguments& arguments);

// The common name of the peer's verified certificate, "" on a plaintext connection (or one the agent's TLS
// front handed over: gRPC sees it as plaintext).
std::string peer_common_name(const grpc::AuthContext& context);

}  // namespace jarvis::tls
