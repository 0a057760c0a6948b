// The one place test clients decide their gRPC transport security, mirroring the agent's
// make_server_credentials(): plaintext today, mutual TLS later.
#pragma once

#include <memory>
#include <string>

#include <grpcpp/channel.h>
#include <grpcpp/security/credentials.h>

namespace jarvis::agent::test {

std::shared_ptr<grpc::ChannelCredentials> make_channel_credentials();

// A channel to an agent at "host:port" that accepts responses as large as the agent's biggest output cap.
std::shared_ptr<grpc::Channel> make_agent_channel(const std::string& target);

}  // namespace jarvis::agent::test
