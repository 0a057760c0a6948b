// A Kubernetes object as the caches hold it: an immutable parsed JSON document shared between the cache and
// its readers, so a reader keeps a consistent snapshot while the cache moves on.
#pragma once

#include <rapidjson/document.h>

#include <memory>
#include <string>
#include <string_view>

namespace jarvis::kube {

using Object = std::shared_ptr<const rapidjson::Document>;

// "namespace/name" for namespaced objects, "name" for cluster-scoped ones; "" without metadata.name.
std::string object_key(const rapidjson::Value& obj);

// metadata.resourceVersion, "" when absent. An opaque string: compare for equality only.
std::string_view resource_version(const rapidjson::Value& obj);

}  // namespace jarvis::kube
