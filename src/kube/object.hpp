// A Kubernetes object as the caches hold it: an immutable parsed JSON document shared between the cache and
// its readers, so a reader keeps a consistent snapshot while the cache moves on.
#pragma once

#include <rapidjson/document.h>

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

namespace jarvis::kube {

using Object = std::shared_ptr<const rapidjson::Document>;

// An empty document for one object the caches will hold, sized for about `size_hint` bytes of JSON text.
// RapidJSON's pool allocator otherwise takes 64 KiB for its first chunk, whatever the object's size: that
// made each cached Node cost 64 KiB (about 64 MiB for 1,000 nodes, bench/). The allocator lives and dies
// with the document.
std::shared_ptr<rapidjson::Document> make_object_document(std::size_t size_hint);
// A copy of `source` in a document of its own (make_object_document), so it does not keep the response or
// watch event it came from alive.
std::shared_ptr<rapidjson::Document> copy_object(const rapidjson::Value& source, std::size_t size_hint);

// "namespace/name" for namespaced objects, "name" for cluster-scoped ones; "" without metadata.name.
std::string object_key(const rapidjson::Value& obj);

// metadata.resourceVersion, "" when absent. An opaque string: compare for equality only.
std::string_view resource_version(const rapidjson::Value& obj);

}  // namespace jarvis::kube
