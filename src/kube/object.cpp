#include "kube/object.hpp"

#include <algorithm>

#include "common/json.hpp"

namespace jarvis::kube {

namespace {

// The document and the pool it allocates from, in one allocation; the pool is declared first so that it
// outlives the document.
struct PooledDocument {
  explicit PooledDocument(std::size_t chunk) : pool(chunk), document(&pool) {}
  rapidjson::MemoryPoolAllocator<> pool;
  rapidjson::Document document;
};

// Chunks between 1 KiB and RapidJSON's own 64 KiB: small objects take one small chunk, large ones grow by
// chunks of their own size.
constexpr std::size_t kMinChunk = 1024;
constexpr std::size_t kMaxChunk = 64 * 1024;

}  // namespace

std::shared_ptr<rapidjson::Document> make_object_document(std::size_t size_hint) {
  auto holder = std::make_shared<PooledDocument>(std::clamp(size_hint, kMinChunk, kMaxChunk));
  return std::shared_ptr<rapidjson::Document>(holder, &holder->document);
}

std::shared_ptr<rapidjson::Document> copy_object(const rapidjson::Value& source, std::size_t size_hint) {
  auto object = make_object_document(size_hint);
  object->CopyFrom(source, object->GetAllocator());
  return object;
}

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
