#include "kube/reflector.hpp"

namespace jarvis::kube {

std::string_view to_string(ReflectorPhase phase) {
  switch (phase) {
    case ReflectorPhase::empty: return "empty";
    case ReflectorPhase::listed: return "listed";
    case ReflectorPhase::watching: return "watching";
  }
  return "unknown";
}

std::vector<std::string> Reflector::on_list(std::vector<Object> objects, std::string resource_version) {
  std::map<std::string, Object> fresh;
  for (Object& obj : objects) {
    std::string key = object_key(*obj);
    if (!key.empty()) fresh.insert_or_assign(std::move(key), std::move(obj));
  }
  std::vector<std::string> changed;
  changed.reserve(fresh.size());
  auto old_it = store_.objects_.begin();
  auto new_it = fresh.begin();
  while (old_it != store_.objects_.end() || new_it != fresh.end()) {
    if (new_it == fresh.end() || (old_it != store_.objects_.end() && old_it->first < new_it->first)) {
      changed.push_back(old_it->first);  // vanished while we were not watching
      ++old_it;
    } else {
      if (old_it != store_.objects_.end() && old_it->first == new_it->first) ++old_it;
      changed.push_back(new_it->first);
      ++new_it;
    }
  }
  store_.objects_ = std::move(fresh);
  resource_version_ = std::move(resource_version);
  phase_ = ReflectorPhase::listed;
  return changed;
}

void Reflector::on_watch_started() {
  if (phase_ == ReflectorPhase::listed) phase_ = ReflectorPhase::watching;
}

Result<AfterEvent> Reflector::on_event(const WatchEvent& event, std::vector<std::string>& changed) {
  const rapidjson::Document& obj = *event.object;
  if (event.type == WatchEventType::error) {
    if (is_expired_status(obj)) {
      on_expired();
      return AfterEvent::relist;
    }
    return Error{"watch ERROR event: " + describe_status(obj)};
  }
  std::string_view rv = kube::resource_version(obj);
  if (rv.empty()) return Error{"watch " + std::string(to_string(event.type)) + " event without resourceVersion"};
  if (event.type == WatchEventType::bookmark) {
    resource_version_ = rv;
    return AfterEvent::keep_watching;
  }
  std::string key = object_key(obj);
  if (key.empty()) return Error{"watch " + std::string(to_string(event.type)) + " event without metadata.name"};
  auto it = store_.objects_.find(key);
  if (event.type == WatchEventType::deleted) {
    if (it != store_.objects_.end()) {
      store_.objects_.erase(it);
      changed.push_back(std::move(key));
    }
  } else if (it == store_.objects_.end()) {
    store_.objects_.emplace(key, event.object);
    changed.push_back(std::move(key));
  } else if (kube::resource_version(*it->second) != rv) {
    it->second = event.object;
    changed.push_back(std::move(key));
  }
  resource_version_ = rv;
  return AfterEvent::keep_watching;
}

void Reflector::on_stream_ended() {
  if (phase_ == ReflectorPhase::watching) phase_ = ReflectorPhase::listed;
}

void Reflector::on_expired() {
  phase_ = ReflectorPhase::empty;
  resource_version_.clear();
}

}  // namespace jarvis::kube
