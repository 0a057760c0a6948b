// AgentService: the jarvis.v1.Agent gRPC service on top of the execution registry.
//
// It uses gRPC's completion-queue API with one thread of its own: that thread takes each call from the queue
// and posts the work to the agent's executor, where the registry lives; the call is finished from there.
// Each call is a coroutine there: a Start waiting for its journal record (written on the journal's own
// thread) holds back no other call. No
// agent state is touched on gRPC's threads. gRPC's callback API would add two polling threads that wake
// several times a second while the agent is idle, a cost every node pays all the time (bench/RESULTS.md).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <grpcpp/server_builder.h>

#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include "agent/connection_peers.hpp"
#include "agent/execution_proto.hpp"
#include "agent/execution_registry.hpp"
#include "common/log.hpp"
#include "jarvis.grpc.pb.h"

namespace jarvis::agent {

inline constexpr std::chrono::milliseconds max_wait{60'000};

class AgentService {
 public:
  // `peers`: who is behind the connections the TLS front hands over (null with --insecure, where gRPC's own
  // peer() is the client's address).
  AgentService(asio::any_io_executor executor, ExecutionRegistry& registry, RequestDefaults defaults, Logger& log,
               const ConnectionPeers* peers = nullptr);
  // Calls stop().
  ~AgentService();
  AgentService(const AgentService&) = delete;
  AgentService& operator=(const AgentService&) = delete;

  // Before BuildAndStart: registers the service and its completion queue with the builder.
  void register_with(grpc::ServerBuilder& builder);
  // After BuildAndStart: starts the thread that takes calls.
  void serve();
  // After the server's Shutdown() returned: waits until the calls taken have finished (they finish on the
  // executor, which must keep running), then shuts the completion queue down and joins the thread.
  void stop();

  struct Call;

 private:
  void request(int method);
  void take_calls();
  void on_event(Call* call, bool ok);
  void handle(Call* call);
  void answer(Call* call, const char* method, asio::awaitable<grpc::Status> work);
  void finish(Call* call, const grpc::Status& status);

  asio::awaitable<grpc::Status> start(const v1::StartRequest& request, std::string caller, v1::Execution& response);
  asio::awaitable<grpc::Status> wait(const v1::WaitRequest& request, v1::Execution& response);
  asio::awaitable<grpc::Status> cancel(const v1::CancelRequest& request, v1::Execution& response);
  grpc::Status not_found(const std::string& execution_id) const;

  asio::any_io_executor executor_;
  ExecutionRegistry& registry_;
  RequestDefaults defaults_;
  Logger& log_;
  const ConnectionPeers* peers_;

  v1::Agent::AsyncService async_service_;
  std::unique_ptr<grpc::ServerCompletionQueue> queue_;
  std::thread thread_;
  std::mutex mutex_;                 // guards the three below
  std::condition_variable no_call_;  // signalled when in_flight_ drops to 0
  int in_flight_ = 0;                // calls taken and not yet finished
  bool queue_closed_ = false;        // no call is requested nor finished once the queue is shut down
};

}  // namespace jarvis::agent
