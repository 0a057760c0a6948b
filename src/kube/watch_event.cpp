#include "kube/watch_event.hpp"

#include <memory>
#include <optional>

#include "common/json.hpp"

namespace jarvis::kube {

namespace {
std::optional<WatchEventType> parse_type(std::string_view type) {
  if (type == "ADDED") return WatchEventType::added;
  if (type == "MODIFIED") return WatchEventType::modified;
  if (type == "DELETED") return WatchEventType::deleted;
  if (type == "BOOKMARK") return WatchEventType::bookmark;
  if (type == "ERROR") return WatchEventType::error;
  return std::nullopt;
}
}  // namespace

std::string_view to_string(WatchEventType type) {
  switch (type) {
    case WatchEventType::added: return "ADDED";
    case WatchEventType::modified: return "MODIFIED";
    case WatchEventType::deleted: return "DELETED";
    case WatchEventType::bookmark: return "BOOKMARK";
    case WatchEventType::error: return "ERROR";
  }
  return "UNKNOWN";
}

Result<WatchEvent> parse_watch_event(std::string_view json) {
  auto doc = parse_json(json, "watch event");
  if (!doc) return doc.error();
  auto type_name = string_at(*doc, {"type"});
  if (!type_name) return Error{"watch event: no \"type\" string"};
  auto type = parse_type(*type_name);
  if (!type) return Error{"watch event: unknown type \"" + std::string(*type_name) + "\""};
  auto member = doc->FindMember("object");
  if (member == doc->MemberEnd() || !member->value.IsObject()) {
    return Error{"watch event " + std::string(*type_name) + ": no \"object\""};
  }
  // A document of its own, so the cache does not keep the event envelope alive.
  return WatchEvent{*type, copy_object(member->value, json.size())};
}

bool is_expired_status(const rapidjson::Value& status) {
  auto reason = string_at(status, {"reason"});
  if (reason && (*reason == "Expired" || *reason == "Gone")) return true;
  return int_at(status, {"code"}) == 410;
}

std::string describe_status(const rapidjson::Value& status) {
  std::string text(string_at(status, {"reason"}).value_or("Unknown"));
  if (auto message = string_at(status, {"message"})) {
    text += ": ";
    text += *message;
  }
  return text;
}

}  // namespace jarvis::kube
