#include "kube/json.hpp"

#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace jarvis::kube {

const rapidjson::Value* value_at(const rapidjson::Value& root, JsonPath path) {
  const rapidjson::Value* current = &root;
  for (std::string_view name : path) {
    if (!current->IsObject()) return nullptr;
    auto member = current->FindMember(json_ref(name));
    if (member == current->MemberEnd()) return nullptr;
    current = &member->value;
  }
  return current;
}

std::optional<std::string_view> string_at(const rapidjson::Value& root, JsonPath path) {
  const rapidjson::Value* v = value_at(root, path);
  if (v == nullptr || !v->IsString()) return std::nullopt;
  return std::string_view(v->GetString(), v->GetStringLength());
}

std::optional<std::int64_t> int_at(const rapidjson::Value& root, JsonPath path) {
  const rapidjson::Value* v = value_at(root, path);
  if (v == nullptr || !v->IsInt64()) return std::nullopt;
  return v->GetInt64();
}

std::string serialize(const rapidjson::Value& value) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  value.Accept(writer);
  return std::string(buffer.GetString(), buffer.GetSize());
}

Result<rapidjson::Document> parse_json(std::string_view text, std::string_view what) {
  rapidjson::Document doc;
  doc.Parse(text.data(), text.size());
  if (doc.HasParseError()) {
    return Error{std::string(what) + ": invalid JSON at offset " + std::to_string(doc.GetErrorOffset()) + ": " +
                 rapidjson::GetParseError_En(doc.GetParseError())};
  }
  return doc;
}

}  // namespace jarvis::kube
