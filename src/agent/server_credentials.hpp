// The one place the agent's gRPC transport security is decided. Plaintext today; mutual TLS goes here.
#pragma once

#include <memory>

#include <grpcpp/security/server_credentials.h>

namespace jarvis::agent {

std::shared_ptr<grpc::ServerCredentials> make_server_credentials();

}  // namespace jarvis::agent
