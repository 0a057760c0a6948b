// How test clients reach an agent: plaintext (agents started with --insecure) or mutual TLS with explicit
// files, through the same credentials code the controller uses (src/tls).
#pragma once

#include <memory>
#include <string>

#include <grpcpp/channel.h>
#include <grpcpp/security/credentials.h>

namespace jarvis::test {

struct ClientTls {
  bool insecure = true;
  std::string ca_file;           // the CA the agent's certificate must chain to
  std::string certificate_file;  // the client's certificate; empty = present none
  std::string key_file;
};

// A channel to an agent at "host:port" that accepts responses as large as the agent's biggest output cap.
std::shared_ptr<grpc::Channel> make_agent_channel(const std::string& target, const ClientTls& tls = {});

}  // namespace jarvis::test
