#include "client_credentials.hpp"

#include <grpcpp/create_channel.h>
#include <grpcpp/support/channel_arguments.h>

namespace jarvis::agent::test {

std::shared_ptr<grpc::ChannelCredentials> make_channel_credentials() { return grpc::InsecureChannelCredentials(); }

std::shared_ptr<grpc::Channel> make_agent_channel(const std::string& target) {
  grpc::ChannelArguments arguments;
  arguments.SetMaxReceiveMessageSize(80 << 20);  // --max-output-bytes allows up to 64 MiB
  return grpc::CreateCustomChannel(target, make_channel_credentials(), arguments);
}

}  // namespace jarvis::agent::test
