#include "controller/command_spec.hpp"

#include <algorithm>

namespace jarvis::controller {
namespace {

std::string string_of(const rapidjson::Value& v) { return std::string(v.GetString(), v.GetStringLength()); }

// Absent and JSON null both mean "not set", as in the Kubernetes API.
const rapidjson::Value* member(const rapidjson::Value& object, const char* name) {
  const auto it = object.FindMember(name);
  if (it == object.MemberEnd() || it->value.IsNull()) return nullptr;
  return &it->value;
}

Result<std::string> required_string(const rapidjson::Value& object, const char* name, const std::string& path) {
  const auto* v = member(object, name);
  if (v == nullptr) return Error{path + ": required"};
  if (!v->IsString()) return Error{path + ": must be a string"};
  if (v->GetStringLength() == 0) return Error{path + ": must not be empty"};
  return string_of(*v);
}

Result<std::vector<std::string>> string_list(const rapidjson::Value& object, const char* name,
                                             const std::string& path) {
  std::vector<std::string> out;
  const auto* v = member(object, name);
  if (v == nullptr) return out;
  if (!v->IsArray()) return Error{path + ": must be a list of strings"};
  for (rapidjson::SizeType i = 0; i < v->Size(); ++i) {
    const auto& item = (*v)[i];
    if (!item.IsString()) return Error{path + "[" + std::to_string(i) + "]: must be a string"};
    out.push_back(string_of(item));
  }
  return out;
}

Result<SelectorRequirement> parse_requirement(const rapidjson::Value& v, const std::string& path) {
  if (!v.IsObject()) return Error{path + ": must be an object with key, operator and values"};
  SelectorRequirement r;
  auto key = required_string(v, "key", path + ".key");
  if (!key) return key.error();
  r.key = std::move(key).value();
  auto op_name = required_string(v, "operator", path + ".operator");
  if (!op_name) return op_name.error();
  const auto op = parse_selector_operator(*op_name);
  if (!op) {
    return Error{path + ".operator: unsupported operator \"" + *op_name +
                 "\" (want In, NotIn, Exists, DoesNotExist, Gt, Lt)"};
  }
  r.op = *op;
  auto values = string_list(v, "values", path + ".values");
  if (!values) return values.error();
  r.values = std::move(values).value();
  return r;
}

Result<std::vector<SelectorRequirement>> parse_requirements(const rapidjson::Value& term, const char* name,
                                                            const std::string& path) {
  std::vector<SelectorRequirement> out;
  const auto* list = member(term, name);
  if (list == nullptr) return out;
  if (!list->IsArray()) return Error{path + ": must be a list"};
  for (rapidjson::SizeType i = 0; i < list->Size(); ++i) {
    auto r = parse_requirement((*list)[i], path + "[" + std::to_string(i) + "]");
    if (!r) return r.error();
    out.push_back(std::move(r).value());
  }
  return out;
}

Result<NodeSelector> parse_selector(const rapidjson::Value* v, const std::string& path) {
  NodeSelector selector;
  if (v == nullptr) return selector;
  if (!v->IsObject()) return Error{path + ": must be an object with nodeSelectorTerms"};
  const auto* terms = member(*v, "nodeSelectorTerms");
  if (terms == nullptr) return selector;
  const std::string terms_path = path + ".nodeSelectorTerms";
  if (!terms->IsArray()) return Error{terms_path + ": must be a list"};
  for (rapidjson::SizeType i = 0; i < terms->Size(); ++i) {
    const std::string term_path = terms_path + "[" + std::to_string(i) + "]";
    const auto& term = (*terms)[i];
    if (!term.IsObject()) return Error{term_path + ": must be an object with matchExpressions or matchFields"};
    auto expressions = parse_requirements(term, "matchExpressions", term_path + ".matchExpressions");
    if (!expressions) return expressions.error();
    auto fields = parse_requirements(term, "matchFields", term_path + ".matchFields");
    if (!fields) return fields.error();
    selector.terms.push_back({std::move(expressions).value(), std::move(fields).value()});
  }
  return selector;
}

Result<std::uint32_t> parse_timeout(const rapidjson::Value* v) {
  if (v == nullptr) return limits::default_timeout_seconds;
  if (!v->IsInt64()) return Error{"spec.timeoutSeconds: must be an integer number of seconds"};
  const std::int64_t seconds = v->GetInt64();
  if (seconds < 1 || seconds > limits::max_timeout_seconds) {
    return Error{"spec.timeoutSeconds: " + std::to_string(seconds) + " is out of range (1.." +
                 std::to_string(limits::max_timeout_seconds) + ")"};
  }
  return static_cast<std::uint32_t>(seconds);
}

// `3` or `"25%"`: an integer >= minimum, or a string of 0 to 100 followed by %. Mirrors the CRD's schema, so
// a Command the API server accepted always parses; the errors name the field for a CRD that lacks it.
Result<std::optional<CountOrPercent>> parse_count_or_percent(const rapidjson::Value* v, const std::string& path,
                                                             std::int64_t minimum) {
  if (v == nullptr) return std::optional<CountOrPercent>{};
  if (v->IsInt64()) {
    if (v->GetInt64() < minimum)
      return Error{path + ": " + std::to_string(v->GetInt64()) + " is less than " + std::to_string(minimum)};
    return std::optional<CountOrPercent>(CountOrPercent{v->GetInt64(), false});
  }
  const std::string want = path + ": must be an integer >= " + std::to_string(minimum) +
                           " or a percentage from 0% to 100% like \"25%\"";
  if (!v->IsString()) return Error{want};
  const std::string text = string_of(*v);
  if (text.size() < 2 || text.size() > 4 || text.back() != '%') return Error{want + ", not \"" + text + "\""};
  const std::string digits = text.substr(0, text.size() - 1);
  if (!std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
      (digits.size() > 1 && digits[0] == '0') || std::stoi(digits) > 100)
    return Error{want + ", not \"" + text + "\""};
  return std::optional<CountOrPercent>(CountOrPercent{std::stoi(digits), true});
}

Result<std::optional<std::int64_t>> parse_ttl(const rapidjson::Value* v) {
  if (v == nullptr) return std::optional<std::int64_t>{};
  if (!v->IsInt64() || v->GetInt64() < 0)
    return Error{"spec.ttlSecondsAfterFinished: must be an integer number of seconds >= 0"};
  return std::optional<std::int64_t>(v->GetInt64());
}

}  // namespace

bool CommandMeta::has_finalizer(std::string_view finalizer) const {
  return std::find(finalizers.begin(), finalizers.end(), finalizer) != finalizers.end();
}

Result<CommandMeta> parse_command_meta(const rapidjson::Value& object) {
  if (!object.IsObject()) return Error{"command: not a JSON object"};
  const auto* meta = member(object, "metadata");
  if (meta == nullptr || !meta->IsObject()) return Error{"metadata: required"};
  CommandMeta out;
  auto name = required_string(*meta, "name", "metadata.name");
  if (!name) return name.error();
  out.name = std::move(name).value();
  auto ns = required_string(*meta, "namespace", "metadata.namespace");
  if (!ns) return Error{ns.error().message + " (Command " + out.name + ")"};
  out.ns = std::move(ns).value();
  const std::string who = " (Command " + out.ns + "/" + out.name + ")";
  auto uid = required_string(*meta, "uid", "metadata.uid");
  if (!uid) return Error{uid.error().message + who};
  out.uid = std::move(uid).value();
  if (const auto* generation = member(*meta, "generation")) {
    if (!generation->IsInt64()) return Error{"metadata.generation: must be an integer" + who};
    out.generation = generation->GetInt64();
  }
  if (const auto* rv = member(*meta, "resourceVersion")) {
    if (!rv->IsString()) return Error{"metadata.resourceVersion: must be a string" + who};
    out.resource_version = string_of(*rv);
  }
  out.being_deleted = member(*meta, "deletionTimestamp") != nullptr;
  auto finalizers = string_list(*meta, "finalizers", "metadata.finalizers");
  if (!finalizers) return Error{finalizers.error().message + who};
  out.finalizers = std::move(finalizers).value();
  return out;
}

Result<CommandSpec> parse_command_spec(const rapidjson::Value& object) {
  if (!object.IsObject()) return Error{"command: not a JSON object"};
  const auto* spec = member(object, "spec");
  if (spec == nullptr) return Error{"spec: required"};
  if (!spec->IsObject()) return Error{"spec: must be an object"};
  CommandSpec out;
  auto command = required_string(*spec, "command", "spec.command");
  if (!command) return command.error();
  if (command->size() > limits::max_command_bytes) {
    return Error{"spec.command: " + std::to_string(command->size()) + " bytes is longer than the agent accepts (" +
                 std::to_string(limits::max_command_bytes) + ")"};
  }
  out.command = std::move(command).value();
  auto timeout = parse_timeout(member(*spec, "timeoutSeconds"));
  if (!timeout) return timeout.error();
  out.timeout_seconds = *timeout;
  auto selector = parse_selector(member(*spec, "selector"), "spec.selector");
  if (!selector) return selector.error();
  if (auto valid = validate(*selector, "spec.selector"); !valid) return valid.error();
  out.selector = std::move(selector).value();
  auto concurrency = parse_count_or_percent(member(*spec, "maxConcurrency"), "spec.maxConcurrency", 1);
  if (!concurrency) return concurrency.error();
  out.max_concurrency = *concurrency;
  auto failures = parse_count_or_percent(member(*spec, "maxFailures"), "spec.maxFailures", 0);
  if (!failures) return failures.error();
  out.max_failures = *failures;
  auto ttl = parse_ttl(member(*spec, "ttlSecondsAfterFinished"));
  if (!ttl) return ttl.error();
  out.ttl_seconds_after_finished = *ttl;
  return out;
}

Result<Command> parse_command(const rapidjson::Value& object) {
  auto meta = parse_command_meta(object);
  if (!meta) return meta.error();
  auto spec = parse_command_spec(object);
  if (!spec) return Error{spec.error().message + " (Command " + meta->ns + "/" + meta->name + ")"};
  return Command{std::move(meta).value(), std::move(spec).value()};
}

}  // namespace jarvis::controller
