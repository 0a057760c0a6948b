#include "cli/command_request.hpp"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "common/json.hpp"

namespace jarvis::cli {

namespace {

constexpr std::size_t kMaxTerms = 32;  // spec.selector.nodeSelectorTerms maxItems in the CRD

void write_requirements(JsonWriter& w, std::string_view field, const std::vector<controller::SelectorRequirement>& list) {
  if (list.empty()) return;
  write_string(w, field);
  w.StartArray();
  for (const auto& r : list) {
    w.StartObject();
    write_member(w, "key", r.key);
    write_member(w, "operator", controller::to_string(r.op));
    if (!r.values.empty()) {
      write_string(w, "values");
      w.StartArray();
      for (const auto& v : r.values) write_string(w, v);
      w.EndArray();
    }
    w.EndObject();
  }
  w.EndArray();
}

void write_int_or_percent(JsonWriter& w, std::string_view field, const IntOrPercent& value) {
  write_string(w, field);
  if (const auto* n = std::get_if<std::int64_t>(&value)) {
    w.Int64(*n);
  } else {
    write_string(w, std::get<std::string>(value));
  }
}

// Copies a member of `from` into `to` as a RapidJSON value (rerun keeps fields it does not interpret).
std::optional<IntOrPercent> int_or_percent_at(const rapidjson::Value& spec, const char* field) {
  if (!spec.IsObject() || !spec.HasMember(field)) return std::nullopt;
  const auto& v = spec[field];
  if (v.IsInt64()) return IntOrPercent{v.GetInt64()};
  if (v.IsString()) return IntOrPercent{std::string(v.GetString(), v.GetStringLength())};
  return std::nullopt;
}

controller::NodeSelector read_selector(const rapidjson::Value& selector) {
  controller::NodeSelector result;
  const auto* terms = value_at(selector, {"nodeSelectorTerms"});
  if (terms == nullptr || !terms->IsArray()) return result;
  auto read = [](const rapidjson::Value& term, const char* field) {
    std::vector<controller::SelectorRequirement> list;
    if (!term.HasMember(field) || !term[field].IsArray()) return list;
    for (const auto& r : term[field].GetArray()) {
      controller::SelectorRequirement req;
      req.key = std::string(string_at(r, {"key"}).value_or(""));
      req.op = controller::parse_selector_operator(string_at(r, {"operator"}).value_or("")).value_or(
          controller::SelectorOperator::in);
      if (r.HasMember("values") && r["values"].IsArray()) {
        for (const auto& v : r["values"].GetArray()) {
          if (v.IsString()) req.values.emplace_back(v.GetString(), v.GetStringLength());
        }
      }
      list.push_back(std::move(req));
    }
    return list;
  };
  for (const auto& term : terms->GetArray()) {
    if (!term.IsObject()) continue;
    result.terms.push_back({read(term, "matchExpressions"), read(term, "matchFields")});
  }
  return result;
}

}  // namespace

Result<IntOrPercent> parse_int_or_percent(std::string_view text, std::string_view flag) {
  std::string_view digits = text;
  bool percent = !digits.empty() && digits.back() == '%';
  if (percent) digits.remove_suffix(1);
  if (digits.empty() || digits.size() > 9 || digits.find_first_not_of("0123456789") != std::string_view::npos) {
    return Error{std::string(flag) + " \"" + std::string(text) + "\": want a number of nodes (3) or a percentage (25%)"};
  }
  std::int64_t n = std::stoll(std::string(digits));
  if (percent) {
    if (n > 100) return Error{std::string(flag) + " \"" + std::string(text) + "\": a percentage is at most 100%"};
    return IntOrPercent{std::string(text)};
  }
  return IntOrPercent{n};
}

std::string command_json(const CommandRequest& request) {
  rapidjson::StringBuffer buffer;
  JsonWriter w(buffer);
  w.StartObject();
  write_member(w, "apiVersion", "jarvis.io/v1");
  write_member(w, "kind", "Command");
  write_string(w, "metadata");
  w.StartObject();
  if (request.name.empty()) {
    write_member(w, "generateName", request.generate_name);
  } else {
    write_member(w, "name", request.name);
  }
  write_member(w, "namespace", request.ns);
  if (!request.labels.empty()) {
    write_string(w, "labels");
    w.StartObject();
    for (const auto& [k, v] : request.labels) write_member(w, k, v);
    w.EndObject();
  }
  w.EndObject();
  write_string(w, "spec");
  w.StartObject();
  write_member(w, "command", request.command);
  if (request.timeout_seconds) {
    write_string(w, "timeoutSeconds");
    w.Int64(*request.timeout_seconds);
  }
  if (request.selector && !request.selector->terms.empty()) {
    write_string(w, "selector");
    w.StartObject();
    write_string(w, "nodeSelectorTerms");
    w.StartArray();
    for (const auto& term : request.selector->terms) {
      w.StartObject();
      write_requirements(w, "matchExpressions", term.match_expressions);
      write_requirements(w, "matchFields", term.match_fields);
      w.EndObject();
    }
    w.EndArray();
    w.EndObject();
  }
  if (request.max_concurrency) write_int_or_percent(w, "maxConcurrency", *request.max_concurrency);
  if (request.max_failures) write_int_or_percent(w, "maxFailures", *request.max_failures);
  if (request.ttl_seconds_after_finished) {
    write_string(w, "ttlSecondsAfterFinished");
    w.Int64(*request.ttl_seconds_after_finished);
  }
  w.EndObject();
  w.EndObject();
  return json_text(buffer);
}

Result<controller::NodeSelector> selector_for_nodes(const std::vector<std::string>& nodes) {
  if (nodes.empty()) return Error{"no node names given"};
  if (nodes.size() > kMaxTerms) {
    return Error{std::to_string(nodes.size()) + " nodes named one by one; a Command can name at most " +
                 std::to_string(kMaxTerms) + " (one selector term each): select them with a label (-l) instead"};
  }
  controller::NodeSelector selector;
  for (const auto& node : nodes) {
    controller::NodeSelectorTerm term;
    term.match_fields.push_back({"metadata.name", controller::SelectorOperator::in, {node}});
    selector.terms.push_back(std::move(term));
  }
  if (auto valid = controller::validate(selector, "--node"); !valid) return valid.error();
  return selector;
}

CommandRequest rerun_request(const rapidjson::Value& old) {
  CommandRequest request;
  request.ns = std::string(string_at(old, {"metadata", "namespace"}).value_or(""));
  std::string old_name(string_at(old, {"metadata", "name"}).value_or(""));
  // generateName adds 5 characters; names stay within 253.
  request.generate_name = old_name.substr(0, 200) + "-rerun-";
  request.command = std::string(string_at(old, {"spec", "command"}).value_or(""));
  if (auto timeout = int_at(old, {"spec", "timeoutSeconds"})) request.timeout_seconds = *timeout;
  if (const auto* selector = value_at(old, {"spec", "selector"}); selector && selector->IsObject()) {
    request.selector = read_selector(*selector);
  }
  if (const auto* spec = value_at(old, {"spec"})) {
    request.max_concurrency = int_or_percent_at(*spec, "maxConcurrency");
    request.max_failures = int_or_percent_at(*spec, "maxFailures");
  }
  if (auto ttl = int_at(old, {"spec", "ttlSecondsAfterFinished"})) request.ttl_seconds_after_finished = *ttl;
  request.labels["jarvis.io/rerun-of"] = old_name.substr(0, 63);
  return request;
}

}  // namespace jarvis::cli
