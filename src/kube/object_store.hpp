// The read-only view of an informer's cache. Only the Reflector writes it; readers on the same executor see
// the state after the last applied event. Objects handed out stay valid after later changes.
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <vector>

#include "kube/object.hpp"

namespace jarvis::kube {

class ObjectStore {
 public:
  // key: "ns/name" (namespaced) or "name" (cluster-scoped); nullptr when absent.
  Object get(const std::string& key) const;
  // Every object, ordered by key.
  std::vector<Object> list() const;
  std::size_t size() const { return objects_.size(); }

 private:
  friend class Reflector;
  std::map<std::string, Object> objects_;
};

}  // namespace jarvis::kube
