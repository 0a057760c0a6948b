// The Command object `kubectl jarvis run` and `rerun` create: spec from the flags, generateName when no
// name is given, labels (jarvis.io/rerun-of).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include <rapidjson/document.h>

#include "common/result.hpp"
#include "controller/node_selector.hpp"

namespace jarvis::cli {

// spec.maxConcurrency / spec.maxFailures: a count or a percentage of the targeted nodes.
using IntOrPercent = std::variant<std::int64_t, std::string>;

// "3" or "25%" (0..100); errors name `flag`.
Result<IntOrPercent> parse_int_or_percent(std::string_view text, std::string_view flag);

struct CommandRequest {
  std::string ns;
  std::string name;                   // "" = generateName
  std::string generate_name = "run-";
  std::string command;
  std::optional<controller::NodeSelector> selector;  // nullopt = every node
  std::optional<std::int64_t> timeout_seconds;
  std::optional<IntOrPercent> max_concurrency, max_failures;
  std::optional<std::int64_t> ttl_seconds_after_finished;
  std::map<std::string, std::string> labels;
};

// The JSON body of the POST.
std::string command_json(const CommandRequest& request);

// A selector naming nodes one by one: one term per node (matchFields metadata.name In [node]; the API allows
// exactly one name per requirement and ORs terms). At most 32 nodes (the CRD's bound on terms).
Result<controller::NodeSelector> selector_for_nodes(const std::vector<std::string>& nodes);

// The request that runs `old` (a Command object) again: same command, timeout, selector and fleet settings,
// a new generated name derived from the old one, label jarvis.io/rerun-of=<old name>.
CommandRequest rerun_request(const rapidjson::Value& old);

}  // namespace jarvis::cli
