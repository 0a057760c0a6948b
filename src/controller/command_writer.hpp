// CommandApi over the Kubernetes API client: PUT .../commands/NAME/status, a merge patch of
// metadata.finalizers carrying the resourceVersion (so it is conditional), GET and DELETE (with a uid
// precondition) of the Command, POST .../events. Events go through
// a client of their own (its own rate limit and connections), so a fleet's worth of events never holds up the
// status writes that dispatch and record executions.
#pragma once

#include "controller/command_api.hpp"
#include "kube/client.hpp"

namespace jarvis::controller {

// The body of the status PUT: `object` (the Command as read, for its metadata.resourceVersion) with its
// .status replaced by `status`. Written in one pass, the status spliced in as status_json() makes it: nothing is
// parsed again, so nothing can fail silently between the decision and the write.
std::string status_update_body(const rapidjson::Value& object, const CommandStatus& status);

class CommandWriter final : public CommandApi {
 public:
  CommandWriter(kube::Client& api, kube::Client& events) : api_(api), events_(events) {}

  boost::asio::awaitable<Status> write_status(const rapidjson::Value& object, const CommandMeta& meta,
                                              const CommandStatus& status) override;
  boost::asio::awaitable<Status> set_finalizer(const CommandMeta& meta, bool present) override;
  boost::asio::awaitable<Result<kube::Object>> read(const CommandMeta& meta) override;
  boost::asio::awaitable<Status> remove(const CommandMeta& meta) override;
  boost::asio::awaitable<Status> post_event(const CommandMeta& meta, const EventSpec& event) override;

 private:
  kube::Client& api_;
  kube::Client& events_;
};

}  // namespace jarvis::controller
