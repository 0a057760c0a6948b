// One event of a watch stream: {"type": ADDED|MODIFIED|DELETED|BOOKMARK|ERROR, "object": {...}}.
#pragma once

#include <rapidjson/document.h>

#include <string>
#include <string_view>

#include "common/result.hpp"
#include "kube/object.hpp"

namespace jarvis::kube {

enum class WatchEventType { added, modified, deleted, bookmark, error };

std::string_view to_string(WatchEventType type);

struct WatchEvent {
  WatchEventType type = WatchEventType::error;
  Object object;  // the watched object; for BOOKMARK only metadata.resourceVersion; for ERROR a meta/v1 Status
};

Result<WatchEvent> parse_watch_event(std::string_view json);

// Whether a meta/v1 Status says the requested resourceVersion is gone from history: code 410 with reason
// Expired (current servers) or Gone (older ones). The cure is a fresh list.
bool is_expired_status(const rapidjson::Value& status);

// "reason: message" of a meta/v1 Status, for logs and errors.
std::string describe_status(const rapidjson::Value& status);

}  // namespace jarvis::kube
