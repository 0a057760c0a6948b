// CommandApi over the Kubernetes API client: PUT .../commands/NAME/status, a merge patch of
// metadata.finalizers carrying the resourceVersion (so it is conditional), POST .../events.
#pragma once

#include "controller/command_api.hpp"
#include "kube/client.hpp"

namespace jarvis::controller {

class CommandWriter final : public CommandApi {
 public:
  explicit CommandWriter(kube::Client& api) : api_(api) {}

  boost::asio::awaitable<Status> write_status(const rapidjson::Value& object, const CommandMeta& meta,
                                              const CommandStatus& status) override;
  boost::asio::awaitable<Status> set_finalizer(const CommandMeta& meta, bool present) override;
  boost::asio::awaitable<Status> post_event(const CommandMeta& meta, const EventSpec& event) override;

 private:
  kube::Client& api_;
};

}  // namespace jarvis::controller
