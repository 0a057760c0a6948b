// AgentService: the jarvis.v1.Agent gRPC service on top of the execution registry.
//
// gRPC calls the handlers on its own threads; each handler only posts the work to the agent's executor,
// where the registry lives, and the call is finished from there. No agent state is touched on gRPC threads.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "agent/connection_peers.hpp"
#include "agent/execution_proto.hpp"
#include "agent/execution_registry.hpp"
#include "common/log.hpp"
#include "jarvis.grpc.pb.h"

namespace jarvis::agent {

inline constexpr std::chrono::milliseconds max_wait{60'000};

class AgentService final : public v1::Agent::CallbackService {
 public:
  // `peers`: who is behind the connections the TLS front hands over (null with --insecure, where gRPC's own
  // peer() is the client's address).
  AgentService(asio::any_io_executor executor, ExecutionRegistry& registry, RequestDefaults defaults, Logger& log,
               const ConnectionPeers* peers = nullptr);

  grpc::ServerUnaryReactor* Start(grpc::CallbackServerContext* context, const v1::StartRequest* request,
                                  v1::Execution* response) override;
  grpc::ServerUnaryReactor* Wait(grpc::CallbackServerContext* context, const v1::WaitRequest* request,
                                 v1::Execution* response) override;
  grpc::ServerUnaryReactor* Cancel(grpc::CallbackServerContext* context, const v1::CancelRequest* request,
                                   v1::Execution* response) override;

 private:
  grpc::Status start(const v1::StartRequest& request, const std::string& caller, v1::Execution& response);
  asio::awaitable<grpc::Status> wait(const v1::WaitRequest& request, v1::Execution& response);
  grpc::Status cancel(const v1::CancelRequest& request, v1::Execution& response);
  grpc::Status not_found(const std::string& execution_id) const;

  asio::any_io_executor executor_;
  ExecutionRegistry& registry_;
  RequestDefaults defaults_;
  Logger& log_;
  const ConnectionPeers* peers_;
};

}  // namespace jarvis::agent
