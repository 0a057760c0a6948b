#include "kube/object.hpp"

#include "common/json.hpp"

namespace jarvis::kube {

std::string object_key(const rapidjson::Value& obj) {
  auto name = string_at(obj, {"metadata", "name"});
  if (!name || name->empty()) return {};
  auto ns = string_at(obj, {"metadata", "namespace"});
  if (!ns || ns->empty()) return std::string(*name);
  std::string key(*ns);
  key.push_back('/');
  key.append(*name);
  return key;
}

std::string_view resource_version(const rapidjson::Value& obj) {
  return string_at(obj, {"metadata", "resourceVersion"}).value_or(std::string_view{});
}

}  // namespace jarvis::kube
