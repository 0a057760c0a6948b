// A Kubernetes object printed as `-o json` (indented, as kubectl) or `-o yaml`.
#pragma once

#include <string>

#include <rapidjson/document.h>

namespace jarvis::cli {

std::string to_pretty_json(const rapidjson::Value& value);
std::string to_yaml(const rapidjson::Value& value);

}  // namespace jarvis::cli
