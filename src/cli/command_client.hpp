// The few Command requests the plugin makes, with errors a person can act on: a 403 names the verb, the
// namespace and the ClusterRole that grants it (manifests/user_roles.yaml); a 404 names the Command.
#pragma once

#include <boost/asio/awaitable.hpp>

#include <string>

#include "common/result.hpp"
#include "kube/client.hpp"
#include "kube/object.hpp"

namespace jarvis::cli {

// "/apis/jarvis.io/v1/namespaces/NS/commands"
std::string commands_path(const std::string& ns);

// The role that grants `verb` on commands: jarvis-command-editor for create/update/patch/delete,
// jarvis-command-viewer for get/list/watch.
std::string role_for(const std::string& verb);

// The error of a non-2xx answer to `verb` on Command `name` (or the collection when empty) in `ns`.
Error command_error(const kube::Response& response, const std::string& verb, const std::string& ns,
                    const std::string& name);

class CommandClient {
 public:
  explicit CommandClient(kube::Client& client) : client_(client) {}

  // POST; the created object. `strict`: the API server refuses fields its CRD does not know (fieldValidation
  // Strict) instead of dropping them: a rollout window or failure budget silently dropped would run on every
  // node at once.
  boost::asio::awaitable<Result<kube::Object>> create(const std::string& ns, std::string body, bool strict);
  boost::asio::awaitable<Result<kube::Object>> get(const std::string& ns, const std::string& name);
  // DELETE with a UID precondition, so a Command of the same name made meanwhile is never deleted.
  boost::asio::awaitable<Status> remove(const std::string& ns, const std::string& name, const std::string& uid);

 private:
  kube::Client& client_;
};

}  // namespace jarvis::cli
