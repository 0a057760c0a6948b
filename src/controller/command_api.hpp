// The Command's side of the API server, as the reconciler needs it: its status, its finalizer, its events, and
// reading and deleting it (ttlSecondsAfterFinished).
// An interface so the reconciler's unit tests can replay API answers; CommandWriter is the real one.
// A failure's Error::code is the HTTP status (0 when no answer came); error_policy.hpp says what each means.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <rapidjson/document.h>

#include "common/result.hpp"
#include "controller/command_spec.hpp"
#include "controller/command_status.hpp"
#include "controller/event_message.hpp"
#include "kube/object.hpp"

namespace jarvis::controller {

class CommandApi {
 public:
  virtual ~CommandApi() = default;
  // Replaces .status of `object` (the Command as read), conditional on its metadata.resourceVersion.
  virtual boost::asio::awaitable<Status> write_status(const rapidjson::Value& object, const CommandMeta& meta,
                                                      const CommandStatus& status) = 0;
  // Adds or removes kFinalizer, conditional on meta.resource_version.
  virtual boost::asio::awaitable<Status> set_finalizer(const CommandMeta& meta, bool present) = 0;
  // Reads the Command from the API server itself (not a cache): nullptr when it is gone (404).
  virtual boost::asio::awaitable<Result<kube::Object>> read(const CommandMeta& meta) = 0;
  // Deletes the Command on condition that it is still the object meta.uid names (DeleteOptions
  // preconditions.uid: 409 Conflict when the name now holds another object).
  virtual boost::asio::awaitable<Status> remove(const CommandMeta& meta) = 0;
  // Creates a core/v1 Event about the Command.
  virtual boost::asio::awaitable<Status> post_event(const CommandMeta& meta, const EventSpec& event) = 0;
};

}  // namespace jarvis::controller
