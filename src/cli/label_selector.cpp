#include "cli/label_selector.hpp"

#include <cctype>
#include <string>

#include "controller/label_syntax.hpp"

namespace jarvis::cli {

namespace {

using controller::SelectorOperator;
using controller::SelectorRequirement;

bool is_space(char c) { return c == ' ' || c == '\t'; }

// Reads one selector left to right; `start_` marks where the current requirement began, for messages.
class SelectorParser {
 public:
  explicit SelectorParser(std::string_view text) : text_(text) {}

  Result<controller::NodeSelectorTerm> parse() {
    controller::NodeSelectorTerm term;
    skip_spaces();
    if (at_end()) return Error{"label selector is empty; give requirements such as app=web,zone in (a,b)"};
    for (;;) {
      skip_spaces();
      start_ = pos_;
      auto requirement = requirement_at();
      if (!requirement) return requirement.error();
      if (auto checked = check(*requirement); !checked) return checked.error();
      term.match_expressions.push_back(std::move(*requirement));
      skip_spaces();
      if (at_end()) break;
      if (text_[pos_] != ',') return fail("expected \",\" before \"" + std::string(text_.substr(pos_)) + "\"");
      ++pos_;
    }
    return term;
  }

 private:
  bool at_end() const { return pos_ >= text_.size(); }
  void skip_spaces() {
    while (!at_end() && is_space(text_[pos_])) ++pos_;
  }
  bool starts_with(std::string_view s) const { return text_.substr(pos_, s.size()) == s; }

  // The requirement being read, up to the next comma outside parentheses.
  std::string part() const {
    int depth = 0;
    std::size_t end = start_;
    for (; end < text_.size(); ++end) {
      if (text_[end] == '(') ++depth;
      if (text_[end] == ')') --depth;
      if (text_[end] == ',' && depth <= 0) break;
    }
    std::string_view p = text_.substr(start_, end - start_);
    while (!p.empty() && is_space(p.back())) p.remove_suffix(1);
    return std::string(p);
  }

  Error fail(const std::string& why) const {
    return Error{"label selector \"" + std::string(text_) + "\": part \"" + part() + "\": " + why};
  }

  // Characters of a key or a value: anything but spaces and the operator and separator characters.
  std::string word() {
    std::size_t begin = pos_;
    while (!at_end() && !is_space(text_[pos_]) && std::string_view("=!,()<>").find(text_[pos_]) == std::string_view::npos) {
      ++pos_;
    }
    return std::string(text_.substr(begin, pos_ - begin));
  }

  Result<SelectorRequirement> requirement_at() {
    SelectorRequirement r;
    if (!at_end() && text_[pos_] == '!') {
      ++pos_;
      skip_spaces();
      r.key = word();
      if (r.key.empty()) return fail("\"!\" needs a label key after it");
      r.op = SelectorOperator::does_not_exist;
      return r;
    }
    r.key = word();
    if (r.key.empty()) return fail("expected a label key");
    skip_spaces();
    if (at_end() || text_[pos_] == ',') {
      r.op = SelectorOperator::exists;
      return r;
    }
    if (starts_with("!=")) {
      pos_ += 2;
      r.op = SelectorOperator::not_in;
      return single_value(std::move(r));
    }
    if (starts_with("==") || starts_with("=")) {
      pos_ += starts_with("==") ? 2 : 1;
      r.op = SelectorOperator::in;
      return single_value(std::move(r));
    }
    if (starts_with(">") || starts_with("<")) {
      const char op = text_[pos_];
      r.op = op == '>' ? SelectorOperator::gt : SelectorOperator::lt;
      ++pos_;
      skip_spaces();
      std::string value = word();
      if (value.empty() || value.find_first_not_of("0123456789") != std::string::npos) {
        return fail(std::string("\"") + op + "\" needs a whole number after it");
      }
      r.values.push_back(value);
      return r;
    }
    std::string op = word();
    if (op == "in" || op == "notin") {
      r.op = op == "in" ? SelectorOperator::in : SelectorOperator::not_in;
      return value_set(std::move(r), op);
    }
    if (op.empty()) return fail("unexpected \"" + std::string(1, text_[pos_]) + "\" after the key");
    return fail("unknown operator \"" + op + "\" (use =, ==, !=, in, notin, >, <, or a bare key for exists)");
  }

  Result<SelectorRequirement> single_value(SelectorRequirement r) {
    skip_spaces();
    r.values.push_back(word());
    skip_spaces();
    if (!at_end() && text_[pos_] != ',') return fail("unexpected \"" + std::string(1, text_[pos_]) + "\" after the value");
    return r;
  }

  Result<SelectorRequirement> value_set(SelectorRequirement r, const std::string& op) {
    skip_spaces();
    if (at_end() || text_[pos_] != '(') return fail("\"" + op + "\" needs values in parentheses, e.g. " + r.key + " " + op + " (a,b)");
    ++pos_;
    for (;;) {
      skip_spaces();
      if (!at_end() && text_[pos_] == ')' && r.values.empty()) return fail("\"" + op + " ()\" needs at least one value");
      std::string value = word();
      skip_spaces();
      if (at_end()) return fail("missing \")\" after the values");
      r.values.push_back(value);
      if (text_[pos_] == ')') {
        ++pos_;
        return r;
      }
      if (text_[pos_] != ',') return fail("unexpected \"" + std::string(1, text_[pos_]) + "\" among the values");
      ++pos_;
    }
  }

  Status check(const SelectorRequirement& r) const {
    if (auto key = controller::check_label_key(r.key); !key) return fail("key \"" + r.key + "\": " + key.error().message);
    if (r.op == SelectorOperator::gt || r.op == SelectorOperator::lt) return Ok{};
    for (const auto& value : r.values) {
      if (auto ok = controller::check_label_value(value); !ok) return fail("value \"" + value + "\": " + ok.error().message);
    }
    return Ok{};
  }

  std::string_view text_;
  std::size_t pos_ = 0;
  std::size_t start_ = 0;
};

}  // namespace

Result<controller::NodeSelectorTerm> parse_label_selector(std::string_view selector) {
  return SelectorParser(selector).parse();
}

}  // namespace jarvis::cli
