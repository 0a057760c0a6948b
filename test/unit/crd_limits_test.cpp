// The CRD's schema (manifests/command_crd.yaml, applied by users) and the constants the controller and the
// agent use (src/common/limits.hpp) must say the same thing: a default or limit changed in one place only
// would make the API server accept Commands the agents refuse, or default them differently.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <string>

#include <yaml-cpp/yaml.h>

#include "common/limits.hpp"

namespace {

YAML::Node spec_schema() {
  const char* path = std::getenv("JARVIS_CRD");
  REQUIRE(path != nullptr);
  const YAML::Node crd = YAML::LoadFile(path);
  const YAML::Node versions = crd["spec"]["versions"];
  REQUIRE(versions.IsSequence());
  for (const auto& version : versions) {
    if (version["name"].as<std::string>() == "v1")
      return version["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"];
  }
  FAIL("the CRD has no version v1");
  return {};
}

}  // namespace

TEST_CASE("spec.timeoutSeconds in the CRD matches the shared default and limits") {
  const YAML::Node timeout = spec_schema()["timeoutSeconds"];
  CHECK(timeout["default"].as<std::uint32_t>() == jarvis::limits::default_timeout_seconds);
  CHECK(timeout["minimum"].as<std::uint32_t>() == 1);
  CHECK(timeout["maximum"].as<std::uint32_t>() == jarvis::limits::max_timeout_seconds);
}

TEST_CASE("spec.command in the CRD matches the shared length limit") {
  const YAML::Node command = spec_schema()["command"];
  CHECK(command["minLength"].as<std::size_t>() == 1);
  CHECK(command["maxLength"].as<std::size_t>() == jarvis::limits::max_command_bytes);
}

TEST_CASE("spec.maxConcurrency and spec.maxFailures in the CRD: int-or-string with the bounds the controller checks") {
  const YAML::Node spec = spec_schema();
  for (const char* field : {"maxConcurrency", "maxFailures"}) {
    INFO(field);
    CHECK(spec[field]["x-kubernetes-int-or-string"].as<bool>());
    CHECK(spec[field]["pattern"].as<std::string>() == "^(100|[1-9]?[0-9])%$");
  }
  CHECK(spec["maxConcurrency"]["minimum"].as<int>() == 1);
  CHECK(spec["maxFailures"]["minimum"].as<int>() == 0);
  CHECK(spec["ttlSecondsAfterFinished"]["minimum"].as<int>() == 0);
  CHECK(spec["ttlSecondsAfterFinished"]["maximum"].as<std::int64_t>() == 2147483647);
}
