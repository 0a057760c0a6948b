// gRPC transport security of the controller (and test clients) towards the agents: mutual TLS over the files of
// a TLS directory (tls_directory.hpp), re-read every `refresh_interval` so renewed certificates are used for
// new connections without a restart. The client checks that the agent's certificate chains to the Jarvis CA
// in ca.crt and names the agents' identity (identities.hpp); anything else fails the handshake, before any
// request is sent. The agent's side is not gRPC's TLS: the agent terminates TLS itself (agent/tls_front.hpp,
// agent_tls_context.hpp) with the same rule for the controller's certificate. Plaintext only when `insecure`
// is set, which the roles ask for explicitly.
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

// The controller's side: presents its certificate and requires the agent's identity from the server.
std::shared_ptr<grpc::ChannelCredentials> controller_channel_credentials(const TransportSecurity& security);

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
