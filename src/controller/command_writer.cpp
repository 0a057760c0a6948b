#include "controller/command_writer.hpp"

#include <boost/beast/http/verb.hpp>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "common/json.hpp"
#include "controller/finalizer.hpp"
#include "kube/response.hpp"

namespace jarvis::controller {

namespace asio = boost::asio;
using boost::beast::http::verb;

namespace {

std::string command_path(const CommandMeta& m) {
  return "/apis/jarvis.io/v1/namespaces/" + m.ns + "/commands/" + m.name;
}

// Success, or an Error whose code is the HTTP status (0 when no answer came).
Status outcome(const Result<kube::Response>& r) {
  if (!r) return Error{r.error().message, 0};
  if (kube::is_success(*r)) return Ok{};
  return Error{kube::describe_response(*r), static_cast<int>(r->status)};
}

}  // namespace

std::string status_update_body(const rapidjson::Value& object, const CommandStatus& status) {
  rapidjson::StringBuffer buffer;
  JsonWriter w(buffer);
  w.StartObject();
  if (object.IsObject()) {
    for (const auto& member : object.GetObject()) {
      if (member.name == "status") continue;
      member.name.Accept(w);
      member.value.Accept(w);
    }
  }
  const std::string written = status_json(status);
  w.Key("status");
  w.RawValue(written.data(), written.size(), rapidjson::kObjectType);
  w.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize());
}

asio::awaitable<Status> CommandWriter::write_status(const rapidjson::Value& object, const CommandMeta& meta,
                                                    const CommandStatus& status) {
  co_return outcome(
      co_await api_.request(verb::put, command_path(meta) + "/status", status_update_body(object, status)));
}

asio::awaitable<Status> CommandWriter::set_finalizer(const CommandMeta& meta, bool present) {
  rapidjson::Document patch(rapidjson::kObjectType);
  auto& a = patch.GetAllocator();
  rapidjson::Value md(rapidjson::kObjectType), finalizers(rapidjson::kArrayType);
  for (const auto& f : meta.finalizers)
    if (f != kFinalizer) finalizers.PushBack(rapidjson::Value(f.c_str(), a), a);
  if (present) finalizers.PushBack(rapidjson::Value(json_ref(kFinalizer), a), a);
  md.AddMember("resourceVersion", rapidjson::Value(meta.resource_version.c_str(), a), a);
  md.AddMember("finalizers", finalizers, a);
  patch.AddMember("metadata", md, a);
  co_return outcome(
      co_await api_.request(verb::patch, command_path(meta), serialize(patch), "application/merge-patch+json"));
}

asio::awaitable<Result<kube::Object>> CommandWriter::read(const CommandMeta& meta) {
  auto r = co_await api_.request(verb::get, command_path(meta));
  if (!r) co_return Error{r.error().message, 0};
  if (r->status == 404) co_return kube::Object{};
  if (!kube::is_success(*r)) co_return Error{kube::describe_response(*r), static_cast<int>(r->status)};
  auto doc = parse_json(r->body, "Command " + meta.ns + "/" + meta.name);
  if (!doc) co_return doc.error();
  co_return std::make_shared<const rapidjson::Document>(std::move(*doc));
}

asio::awaitable<Status> CommandWriter::remove(const CommandMeta& meta) {
  rapidjson::Document options(rapidjson::kObjectType);
  auto& a = options.GetAllocator();
  options.AddMember("apiVersion", "v1", a);
  options.AddMember("kind", "DeleteOptions", a);
  rapidjson::Value preconditions(rapidjson::kObjectType);
  preconditions.AddMember("uid", rapidjson::Value(meta.uid.c_str(), a), a);
  options.AddMember("preconditions", preconditions, a);
  co_return outcome(co_await api_.request(verb::delete_, command_path(meta), serialize(options)));
}

asio::awaitable<Status> CommandWriter::post_event(const CommandMeta& meta, const EventSpec& event) {
  auto r = co_await events_.request(verb::post, "/api/v1/namespaces/" + meta.ns + "/events",
                                    event_json(meta, event, std::chrono::system_clock::now()));
  // 409 AlreadyExists: the event's fixed name (event_object_name) is taken, so it was posted before, by this
  // controller (a retried request whose answer was lost) or by another: it exists once, which is the goal.
  if (r && r->status == 409) co_return Ok{};
  co_return outcome(r);
}

}  // namespace jarvis::controller
