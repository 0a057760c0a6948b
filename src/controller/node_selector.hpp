// Which nodes a Command runs on: Kubernetes NodeSelector semantics, identical to the scheduler's required
// node affinity (k8s.io/component-helpers/scheduling/corev1/nodeaffinity), so a selector that users test
// against pods picks the same nodes here.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <rapidjson/document.h>

#include "common/result.hpp"

namespace jarvis::controller {

enum class SelectorOperator { in, not_in, exists, does_not_exist, gt, lt };

// The API spelling: "In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt" (case-sensitive, as Kubernetes).
std::optional<SelectorOperator> parse_selector_operator(std::string_view name);
std::string_view to_string(SelectorOperator op);

struct SelectorRequirement {
  std::string key;
  SelectorOperator op = SelectorOperator::in;
  std::vector<std::string> values;
};

struct NodeSelectorTerm {
  std::vector<SelectorRequirement> match_expressions;  // on node labels
  std::vector<SelectorRequirement> match_fields;       // on metadata.name only
};

// No terms selects every node (an absent spec.selector parses to this). A term with neither expressions
// nor fields selects no node, as in Kubernetes.
struct NodeSelector {
  std::vector<NodeSelectorTerm> terms;
};

// What selection needs to know about a node.
struct NodeInfo {
  std::string name;
  std::map<std::string, std::string> labels;
};

// Reads metadata.name and metadata.labels of a core/v1 Node.
Result<NodeInfo> parse_node_info(const rapidjson::Value& node);

// Kubernetes' API validation of a NodeSelector: In/NotIn need values, Exists/DoesNotExist take none,
// Gt/Lt take exactly one integer, keys and values follow label syntax, matchFields only
// `metadata.name` with In/NotIn and exactly one value. Every problem is reported, each prefixed with its
// field path under `path` (e.g. "spec.selector.nodeSelectorTerms[0].matchExpressions[1].values"), joined
// by "; ".
Status validate(const NodeSelector& selector, std::string_view path = "spec.selector");

// True when the node is selected. Terms are ORed; within a term all requirements are ANDed. A term the
// scheduler could not parse (bad operator use, key or value) matches nothing while the other terms still
// count: the scheduler's lazy-error behaviour, kept so that matching never depends on validate() running.
bool matches(const NodeSelector& selector, const NodeInfo& node);

}  // namespace jarvis::controller
