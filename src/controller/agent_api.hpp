// What the controller asks of a node's agent (proto/jarvis.proto), as an interface: AgentClient speaks gRPC
// to real agents; the reconciler's unit tests give it scripted agents. Calls complete on the caller's
// executor; failures are Errors whose code is the gRPC status code (grpc::StatusCode).
#pragma once

#include <chrono>
#include <string>

#include <boost/asio/awaitable.hpp>

#include "common/result.hpp"
#include "jarvis.pb.h"

namespace jarvis::controller {

class AgentApi {
 public:
  virtual ~AgentApi() = default;

  // Starts the execution, or answers the state of the one the agent already has under this id.
  virtual boost::asio::awaitable<Result<jarvis::v1::Execution>> start(const std::string& address,
                                                                      jarvis::v1::StartRequest request,
                                                                      std::chrono::milliseconds deadline) = 0;
  // The execution's state once it finished or after max_wait; `deadline` must exceed max_wait.
  virtual boost::asio::awaitable<Result<jarvis::v1::Execution>> wait(const std::string& address,
                                                                     std::string execution_id,
                                                                     std::chrono::milliseconds max_wait,
                                                                     std::chrono::milliseconds deadline) = 0;
  // Stops a running execution; for an id the agent never saw, records it as canceled so it never starts.
  virtual boost::asio::awaitable<Result<jarvis::v1::Execution>> cancel(const std::string& address,
                                                                       std::string execution_id,
                                                                       std::chrono::milliseconds deadline) = 0;
};

}  // namespace jarvis::controller
