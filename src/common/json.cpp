#include "common/json.hpp"

#include "common/utf8.hpp"

#include <rapidjson/error/en.h>

namespace jarvis {

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

std::optional<std::uint64_t> uint_at(const rapidjson::Value& root, JsonPath path) {
  const rapidjson::Value* v = value_at(root, path);
  if (v == nullptr || !v->IsUint64()) return std::nullopt;
  return v->GetUint64();
}

std::optional<bool> bool_at(const rapidjson::Value& root, JsonPath path) {
  const rapidjson::Value* v = value_at(root, path);
  if (v == nullptr || !v->IsBool()) return std::nullopt;
  return v->GetBool();
}

void write_string(JsonWriter& writer, std::string_view text) {
  const std::string valid = valid_utf8(text);
  writer.String(valid.data(), static_cast<rapidjson::SizeType>(valid.size()));
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

}  // namespace jarvis
