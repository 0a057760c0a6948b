#include "support/client_credentials.hpp"

#include <grpcpp/create_channel.h>
#include <grpcpp/support/channel_arguments.h>

#include "tls/grpc_credentials.hpp"
#include "tls/identities.hpp"

namespace jarvis::test {

std::shared_ptr<grpc::Channel> make_agent_channel(const std::string& target, const ClientTls& tls) {
  grpc::ChannelArguments arguments;
  arguments.SetMaxReceiveMessageSize(80 << 20);  // --max-output-bytes allows up to 64 MiB
  if (tls.insecure) return grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), arguments);
  jarvis::tls::add_agent_channel_arguments(arguments);
  return grpc::CreateCustomChannel(target,
                                   jarvis::tls::client_credentials(tls.ca_file, tls.certificate_file, tls.key_file,
                                                                   std::string(jarvis::tls::agent_identity), 1),
                                   arguments);
}

}  // namespace jarvis::test
