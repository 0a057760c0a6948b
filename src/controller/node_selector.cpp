#include "controller/node_selector.hpp"

#include <cstdint>
#include <limits>

#include "controller/label_syntax.hpp"

namespace jarvis::controller {
namespace {

constexpr std::string_view kNodeNameField = "metadata.name";

// Go's strconv.ParseInt(s, 10, 64): optional sign, at least one decimal digit, nothing else, in range.
std::optional<std::int64_t> parse_int64(std::string_view s) {
  bool negative = false;
  if (!s.empty() && (s.front() == '+' || s.front() == '-')) {
    negative = s.front() == '-';
    s.remove_prefix(1);
  }
  if (s.empty()) return std::nullopt;
  // Accumulate as a negative number so INT64_MIN is representable.
  std::int64_t acc = 0;
  constexpr std::int64_t kMin = std::numeric_limits<std::int64_t>::min();
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    const int digit = c - '0';
    if (acc < (kMin + digit) / 10) return std::nullopt;
    acc = acc * 10 - digit;
  }
  if (!negative) {
    if (acc == kMin) return std::nullopt;
    return -acc;
  }
  return acc;
}

void check_expression(const SelectorRequirement& r, const std::string& path, std::vector<std::string>& problems) {
  if (auto key_ok = check_label_key(r.key); !key_ok) problems.push_back(path + ".key: " + key_ok.error().message);
  switch (r.op) {
    case SelectorOperator::in:
    case SelectorOperator::not_in:
      if (r.values.empty()) problems.push_back(path + ".values: In and NotIn need at least one value");
      break;
    case SelectorOperator::exists:
    case SelectorOperator::does_not_exist:
      if (!r.values.empty()) problems.push_back(path + ".values: Exists and DoesNotExist take no values");
      break;
    case SelectorOperator::gt:
    case SelectorOperator::lt:
      if (r.values.size() != 1) {
        problems.push_back(path + ".values: Gt and Lt need exactly one value");
      } else if (!parse_int64(r.values[0])) {
        problems.push_back(path + ".values[0]: \"" + r.values[0] + "\" is not an integer (Gt and Lt compare integers)");
      }
      break;
  }
  for (std::size_t i = 0; i < r.values.size(); ++i) {
    if (auto value_ok = check_label_value(r.values[i]); !value_ok) {
      problems.push_back(path + ".values[" + std::to_string(i) + "]: " + value_ok.error().message);
    }
  }
}

// The scheduler only insists on the operator and the value count; API validation (`api_rules`) also
// insists on the key and on the value being a possible node name.
void check_field(const SelectorRequirement& r, const std::string& path, bool api_rules,
                 std::vector<std::string>& problems) {
  if (api_rules && r.key != kNodeNameField) {
    problems.push_back(path + ".key: unsupported field \"" + r.key + "\" (want metadata.name)");
  }
  if (r.op != SelectorOperator::in && r.op != SelectorOperator::not_in) {
    problems.push_back(path + ".operator: unsupported operator \"" + std::string(to_string(r.op)) +
                       "\" for matchFields (want In, NotIn)");
  } else if (r.values.size() != 1) {
    problems.push_back(path + ".values: matchFields with In or NotIn need exactly one value");
  } else if (auto name_ok = check_dns_subdomain(r.values[0]); api_rules && !name_ok) {
    problems.push_back(path + ".values[0]: " + name_ok.error().message);
  }
}

void check_term(const NodeSelectorTerm& term, const std::string& path, bool api_rules,
                std::vector<std::string>& problems) {
  for (std::size_t i = 0; i < term.match_expressions.size(); ++i) {
    check_expression(term.match_expressions[i], path + ".matchExpressions[" + std::to_string(i) + "]", problems);
  }
  for (std::size_t i = 0; i < term.match_fields.size(); ++i) {
    check_field(term.match_fields[i], path + ".matchFields[" + std::to_string(i) + "]", api_rules, problems);
  }
}

bool term_is_valid(const NodeSelectorTerm& term) {
  std::vector<std::string> problems;
  check_term(term, "", /*api_rules=*/false, problems);
  return problems.empty();
}

bool has_value(const SelectorRequirement& r, const std::string& v) {
  for (const auto& candidate : r.values) {
    if (candidate == v) return true;
  }
  return false;
}

// labels.Requirement.Matches.
bool expression_matches(const SelectorRequirement& r, const std::map<std::string, std::string>& labels) {
  const auto it = labels.find(r.key);
  const bool present = it != labels.end();
  switch (r.op) {
    case SelectorOperator::in: return present && has_value(r, it->second);
    case SelectorOperator::not_in: return !present || !has_value(r, it->second);
    case SelectorOperator::exists: return present;
    case SelectorOperator::does_not_exist: return !present;
    case SelectorOperator::gt:
    case SelectorOperator::lt: {
      if (!present || r.values.size() != 1) return false;
      const auto label_value = parse_int64(it->second);
      const auto bound = parse_int64(r.values[0]);
      if (!label_value || !bound) return false;
      return r.op == SelectorOperator::gt ? *label_value > *bound : *label_value < *bound;
    }
  }
  return false;
}

// fields.OneTermEqualSelector / OneTermNotEqualSelector on the node's only field, metadata.name: any other
// key reads as the empty string there.
bool field_matches(const SelectorRequirement& r, const std::string& node_name) {
  const std::string& field_value = r.key == kNodeNameField ? node_name : std::string();
  const bool equal = field_value == r.values.at(0);
  return r.op == SelectorOperator::in ? equal : !equal;
}

bool term_matches(const NodeSelectorTerm& term, const NodeInfo& node) {
  if (term.match_expressions.empty() && term.match_fields.empty()) return false;
  if (!term_is_valid(term)) return false;
  for (const auto& r : term.match_expressions) {
    if (!expression_matches(r, node.labels)) return false;
  }
  // Kubernetes skips field requirements for a node without a name (its field set is empty).
  if (!node.name.empty()) {
    for (const auto& r : term.match_fields) {
      if (!field_matches(r, node.name)) return false;
    }
  }
  return true;
}

}  // namespace

std::optional<SelectorOperator> parse_selector_operator(std::string_view name) {
  if (name == "In") return SelectorOperator::in;
  if (name == "NotIn") return SelectorOperator::not_in;
  if (name == "Exists") return SelectorOperator::exists;
  if (name == "DoesNotExist") return SelectorOperator::does_not_exist;
  if (name == "Gt") return SelectorOperator::gt;
  if (name == "Lt") return SelectorOperator::lt;
  return std::nullopt;
}

std::string_view to_string(SelectorOperator op) {
  switch (op) {
    case SelectorOperator::in: return "In";
    case SelectorOperator::not_in: return "NotIn";
    case SelectorOperator::exists: return "Exists";
    case SelectorOperator::does_not_exist: return "DoesNotExist";
    case SelectorOperator::gt: return "Gt";
    case SelectorOperator::lt: return "Lt";
  }
  return "In";
}

Result<NodeInfo> parse_node_info(const rapidjson::Value& node) {
  if (!node.IsObject()) return Error{"node: not a JSON object"};
  const auto meta = node.FindMember("metadata");
  if (meta == node.MemberEnd() || !meta->value.IsObject()) return Error{"node: metadata missing"};
  const auto name = meta->value.FindMember("name");
  if (name == meta->value.MemberEnd() || !name->value.IsString() || name->value.GetStringLength() == 0) {
    return Error{"node: metadata.name missing"};
  }
  NodeInfo info;
  info.name = name->value.GetString();
  const auto labels = meta->value.FindMember("labels");
  if (labels != meta->value.MemberEnd() && !labels->value.IsNull()) {
    if (!labels->value.IsObject()) return Error{"node " + info.name + ": metadata.labels is not an object"};
    for (const auto& label : labels->value.GetObject()) {
      if (!label.value.IsString()) {
        return Error{"node " + info.name + ": metadata.labels." + label.name.GetString() + " is not a string"};
      }
      info.labels.emplace(label.name.GetString(), label.value.GetString());
    }
  }
  return info;
}

Status validate(const NodeSelector& selector, std::string_view path) {
  std::vector<std::string> problems;
  for (std::size_t i = 0; i < selector.terms.size(); ++i) {
    check_term(selector.terms[i], std::string(path) + ".nodeSelectorTerms[" + std::to_string(i) + "]",
               /*api_rules=*/true, problems);
  }
  if (problems.empty()) return Ok{};
  std::string message = problems.front();
  for (std::size_t i = 1; i < problems.size(); ++i) message += "; " + problems[i];
  return Error{message};
}

bool matches(const NodeSelector& selector, const NodeInfo& node) {
  if (selector.terms.empty()) return true;
  for (const auto& term : selector.terms) {
    if (term_matches(term, node)) return true;
  }
  return false;
}

}  // namespace jarvis::controller
