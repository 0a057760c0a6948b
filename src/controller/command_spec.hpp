// A Command custom resource (jarvis.io/v1) read from its JSON into typed fields. Metadata and spec parse
// separately so that a Command with an unusable spec can still be identified, reported on and released
// from its finalizer.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <rapidjson/document.h>

#include "common/limits.hpp"
#include "common/result.hpp"
#include "controller/node_selector.hpp"

namespace jarvis::controller {

// Identity of one version of a Command: what events point at and what status writes are conditional on.
struct CommandMeta {
  std::string ns;
  std::string name;
  std::string uid;
  std::int64_t generation = 0;
  std::string resource_version;
  bool being_deleted = false;  // metadata.deletionTimestamp is set
  std::vector<std::string> finalizers;

  bool has_finalizer(std::string_view finalizer) const;
};

// An int-or-string field holding a count or a percentage of the targeted nodes: 3 or "25%".
struct CountOrPercent {
  std::int64_t value = 0;
  bool percent = false;
  bool operator==(const CountOrPercent&) const = default;
};

struct CommandSpec {
  std::string command;
  std::uint32_t timeout_seconds = limits::default_timeout_seconds;
  NodeSelector selector;  // no terms when spec.selector is absent: every node
  std::optional<CountOrPercent> max_concurrency;  // nodes running at once; unset = all (100%)
  std::optional<CountOrPercent> max_failures;     // failures tolerated before no new node starts; unset = no limit
  std::optional<std::int64_t> ttl_seconds_after_finished;  // delete the Command this long after completionTime
};

struct Command {
  CommandMeta meta;
  CommandSpec spec;
};

// Errors name the JSON field, e.g. "metadata.uid: required".
Result<CommandMeta> parse_command_meta(const rapidjson::Value& object);

// Reads object.spec and validates it fully (selector rules included), so a spec that parses can be run.
// Errors name the field, e.g. `spec.selector.nodeSelectorTerms[0].matchExpressions[1].operator:
// unsupported operator "Foo" (want In, NotIn, Exists, DoesNotExist, Gt, Lt)`.
Result<CommandSpec> parse_command_spec(const rapidjson::Value& object);

Result<Command> parse_command(const rapidjson::Value& object);

}  // namespace jarvis::controller
