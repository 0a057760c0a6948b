#include "kube/object_store.hpp"

namespace jarvis::kube {

Object ObjectStore::get(const std::string& key) const {
  auto it = objects_.find(key);
  return it == objects_.end() ? nullptr : it->second;
}

std::vector<Object> ObjectStore::list() const {
  std::vector<Object> all;
  all.reserve(objects_.size());
  for (const auto& [key, obj] : objects_) all.push_back(obj);
  return all;
}

}  // namespace jarvis::kube
