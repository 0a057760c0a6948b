// gRPC transport security between the controller and the agents: mutual TLS over the files of a TLS
// directory (tls_directory.hpp), re-read every `refresh_interval` so renewed certificates are used for new
// connections without a restart. Each side checks that the peer's certificate chains to the Jarvis CA in
// ca.crt and names the identity it expects (identities.hpp); anything else fails the handshake, before any
// request is read. Plaintext only when `insecure` is set, which the roles ask for explicitly.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include <grpcpp/security/auth_context.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
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

// Told why a peer's certificate was refused for its identity (it chains to the CA but names someone else):
// gRPC itself logs nothing for that case. Called on gRPC's threads.
using IdentityRefused = std::function<void(const std::string& detail)>;

// The agent's side: requires a client certificate naming the controller.
std::shared_ptr<grpc::ServerCredentials> agent_server_credentials(const TransportSecurity& security,
                                                                  IdentityRefused on_refused = {});

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

// The common name of the peer's verified certificate, "" on a plaintext connection.
std::string peer_common_name(const grpc::AuthContext& context);

}  // namespace jarvis::tls
