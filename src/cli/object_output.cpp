#include "cli/object_output.hpp"

#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>
#include <yaml-cpp/yaml.h>

namespace jarvis::cli {

namespace {

// Whether a plain scalar `text` would read back as a number, boolean or null.
bool reads_as_other_type(const std::string& text) {
  if (text.empty()) return true;
  static const char* const words[] = {"true", "false", "null", "yes", "no", "on", "off", "~",
                                      "True", "False", "Null", "Yes", "No", "On", "Off", "TRUE", "FALSE", "NULL"};
  for (const char* w : words) {
    if (text == w) return true;
  }
  return text.find_first_not_of("0123456789+-.eE") == std::string::npos;
}

void emit(YAML::Emitter& out, const rapidjson::Value& v) {
  if (v.IsObject()) {
    out << YAML::BeginMap;
    for (const auto& m : v.GetObject()) {
      out << YAML::Key << std::string(m.name.GetString(), m.name.GetStringLength()) << YAML::Value;
      emit(out, m.value);
    }
    out << YAML::EndMap;
  } else if (v.IsArray()) {
    out << YAML::BeginSeq;
    for (const auto& item : v.GetArray()) emit(out, item);
    out << YAML::EndSeq;
  } else if (v.IsString()) {
    std::string text(v.GetString(), v.GetStringLength());
    if (text.find('\n') != std::string::npos) {
      out << YAML::Literal << text;
    } else if (reads_as_other_type(text)) {
      out << YAML::DoubleQuoted << text;
    } else {
      out << text;  // yaml-cpp quotes it when a plain scalar cannot carry it
    }
  } else if (v.IsBool()) {
    out << v.GetBool();
  } else if (v.IsInt64()) {
    out << v.GetInt64();
  } else if (v.IsUint64()) {
    out << v.GetUint64();
  } else if (v.IsNumber()) {
    out << v.GetDouble();
  } else {
    out << YAML::Null;
  }
}

}  // namespace

std::string to_pretty_json(const rapidjson::Value& value) {
  rapidjson::StringBuffer buffer;
  rapidjson::PrettyWriter<rapidjson::StringBuffer> writer(buffer);
  writer.SetIndent(' ', 4);
  value.Accept(writer);
  return std::string(buffer.GetString(), buffer.GetSize()) + "\n";
}

std::string to_yaml(const rapidjson::Value& value) {
  YAML::Emitter out;
  emit(out, value);
  return std::string(out.c_str()) + "\n";
}

}  // namespace jarvis::cli
