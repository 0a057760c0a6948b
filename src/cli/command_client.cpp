#include "cli/command_client.hpp"

#include <boost/beast/http/verb.hpp>

#include <memory>

#include "common/json.hpp"

namespace jarvis::cli {

namespace http = boost::beast::http;
namespace asio = boost::asio;

namespace {

Result<kube::Object> object_from(const kube::Response& response, const std::string& what) {
  auto doc = parse_json(response.body, what);
  if (!doc) return doc.error();
  return kube::Object(std::make_shared<const rapidjson::Document>(std::move(*doc)));
}

}  // namespace

std::string commands_path(const std::string& ns) { return "/apis/jarvis.io/v1/namespaces/" + ns + "/commands"; }

std::string role_for(const std::string& verb) {
  return verb == "get" || verb == "list" || verb == "watch" ? "jarvis-command-viewer" : "jarvis-command-editor";
}

Error command_error(const kube::Response& response, const std::string& verb, const std::string& ns,
                    const std::string& name) {
  std::string object = name.empty() ? "commands" : "command " + ns + "/" + name;
  if (response.status == 403) {
    return Error{"forbidden: " + verb + " commands in namespace " + ns + ": your user needs the ClusterRole " +
                     role_for(verb) + " bound in that namespace (kubectl create rolebinding NAME --clusterrole=" +
                     role_for(verb) + " --user=YOU -n " + ns + "); the API server said: " +
                     kube::describe_response(response),
                 403};
  }
  if (response.status == 400 && kube::describe_response(response).find("unknown field") != std::string::npos) {
    return Error{"the Command CRD in this cluster does not know a field this run needs (" +
                     kube::describe_response(response) +
                     "): install the CRD of this jarvis version (kubectl apply -k manifests/); nothing was created",
                 400};
  }
  if (response.status == 404 && !name.empty()) {
    return Error{object + " not found (list them with kubectl get commands -n " + ns + ")", 404};
  }
  if (response.status == 404) {
    return Error{"the Command resource (jarvis.io/v1) is not installed in this cluster: kubectl apply -k manifests/ (" +
                     kube::describe_response(response) + ")",
                 404};
  }
  return Error{verb + " " + object + ": " + kube::describe_response(response), static_cast<int>(response.status)};
}

asio::awaitable<Result<kube::Object>> CommandClient::create(const std::string& ns, std::string body, bool strict) {
  std::string target = commands_path(ns) + (strict ? "?fieldValidation=Strict" : "");
  auto answer = co_await client_.request(http::verb::post, target, std::move(body));
  if (!answer) co_return answer.error();
  if (!kube::is_success(*answer)) co_return command_error(*answer, "create", ns, "");
  co_return object_from(*answer, "the created command");
}

asio::awaitable<Result<kube::Object>> CommandClient::get(const std::string& ns, const std::string& name) {
  auto answer = co_await client_.request(http::verb::get, commands_path(ns) + "/" + name);
  if (!answer) co_return answer.error();
  if (!kube::is_success(*answer)) co_return command_error(*answer, "get", ns, name);
  co_return object_from(*answer, "command " + ns + "/" + name);
}

asio::awaitable<Status> CommandClient::remove(const std::string& ns, const std::string& name, const std::string& uid) {
  rapidjson::StringBuffer buffer;
  JsonWriter w(buffer);
  w.StartObject();
  write_member(w, "apiVersion", "v1");
  write_member(w, "kind", "DeleteOptions");
  write_member(w, "propagationPolicy", "Background");
  write_string(w, "preconditions");
  w.StartObject();
  write_member(w, "uid", uid);
  w.EndObject();
  w.EndObject();
  auto answer = co_await client_.request(http::verb::delete_, commands_path(ns) + "/" + name, json_text(buffer));
  if (!answer) co_return answer.error();
  if (answer->status == 404) co_return Ok{};  // already gone
  if (!kube::is_success(*answer)) co_return command_error(*answer, "delete", ns, name);
  co_return Ok{};
}

}  // namespace jarvis::cli
