#include "agent/server_credentials.hpp"

namespace jarvis::agent {

std::shared_ptr<grpc::ServerCredentials> make_server_credentials() { return grpc::InsecureServerCredentials(); }

}  // namespace jarvis::agent
