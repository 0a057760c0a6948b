// Small RapidJSON helpers: reading a field at a path without a ladder of HasMember checks, parsing with a
// one-line error, and serializing.
#pragma once

#include <rapidjson/document.h>

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace jarvis::kube {

using JsonPath = std::initializer_list<std::string_view>;

// The value reached by following member names from `root`; nullptr when a step is missing or not an object.
const rapidjson::Value* value_at(const rapidjson::Value& root, JsonPath path);

// The string at `path`, or nullopt when absent or not a string. The view points into `root`.
std::optional<std::string_view> string_at(const rapidjson::Value& root, JsonPath path);

// The integer at `path`, or nullopt when absent or not an integer that fits in 64 bits.
std::optional<std::int64_t> int_at(const rapidjson::Value& root, JsonPath path);

// Compact JSON text of `value`.
std::string serialize(const rapidjson::Value& value);

// Parses `text`; the error names `what` and the offset of the first syntax error.
Result<rapidjson::Document> parse_json(std::string_view text, std::string_view what);

// A RapidJSON string reference to `text` (which must outlive its use).
inline rapidjson::Value::StringRefType json_ref(std::string_view text) {
  return rapidjson::StringRef(text.data(), text.size());
}

}  // namespace jarvis::kube
