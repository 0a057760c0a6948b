// The one JSON layer (RapidJSON): reading a field at a path without a ladder of HasMember checks, parsing
// with a one-line error, serializing, and writing strings that are always valid UTF-8 (command output is
// arbitrary bytes; logs, events and status must stay valid JSON).
#pragma once

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace jarvis {

using JsonPath = std::initializer_list<std::string_view>;
using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

// The value reached by following member names from `root`; nullptr when a step is missing or not an object.
const rapidjson::Value* value_at(const rapidjson::Value& root, JsonPath path);

// The string at `path`, or nullopt when absent or not a string. The view points into `root`.
std::optional<std::string_view> string_at(const rapidjson::Value& root, JsonPath path);

// The integer at `path`, or nullopt when absent or not an integer that fits in 64 bits.
std::optional<std::int64_t> int_at(const rapidjson::Value& root, JsonPath path);

// The unsigned integer at `path`, or nullopt when absent or not a non-negative integer that fits in 64 bits.
std::optional<std::uint64_t> uint_at(const rapidjson::Value& root, JsonPath path);

// The boolean at `path`, or nullopt when absent or not a boolean.
std::optional<bool> bool_at(const rapidjson::Value& root, JsonPath path);

// Compact JSON text of `value`.
std::string serialize(const rapidjson::Value& value);

// Parses `text`; the error names `what` and the offset of the first syntax error.
Result<rapidjson::Document> parse_json(std::string_view text, std::string_view what);

// A RapidJSON string reference to `text` (which must outlive its use).
inline rapidjson::Value::StringRefType json_ref(std::string_view text) {
  return rapidjson::StringRef(text.data(), text.size());
}

// Writes `text` as a JSON string, replacing invalid UTF-8 sequences with U+FFFD.
void write_string(JsonWriter& writer, std::string_view text);

// Writes `"key": "value"` with both sides made valid UTF-8.
inline void write_member(JsonWriter& writer, std::string_view key, std::string_view value) {
  write_string(writer, key);
  write_string(writer, value);
}

// The text a writer over `buffer` produced.
inline std::string json_text(const rapidjson::StringBuffer& buffer) { return {buffer.GetString(), buffer.GetSize()}; }

}  // namespace jarvis
