#include "controller/label_syntax.hpp"

#include <string>

namespace jarvis::controller {
namespace {

constexpr std::size_t kMaxNameLength = 63;
constexpr std::size_t kMaxSubdomainLength = 253;

bool is_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }
bool is_lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

// ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9] — the shape shared by label names and label values.
bool is_label_token(std::string_view s) {
  if (s.empty() || !is_alnum(s.front()) || !is_alnum(s.back())) return false;
  for (char c : s) {
    if (!is_alnum(c) && c != '-' && c != '_' && c != '.') return false;
  }
  return true;
}

// [a-z0-9]([-a-z0-9]*[a-z0-9])?
bool is_dns_label(std::string_view s) {
  if (s.empty() || !is_lower_alnum(s.front()) || !is_lower_alnum(s.back())) return false;
  for (char c : s) {
    if (!is_lower_alnum(c) && c != '-') return false;
  }
  return true;
}

std::string quoted(std::string_view s) { return "\"" + std::string(s) + "\""; }

}  // namespace

Status check_dns_subdomain(std::string_view name) {
  if (name.empty()) return Error{"must not be empty"};
  if (name.size() > kMaxSubdomainLength) {
    return Error{quoted(name.substr(0, 32)) + "... is longer than 253 characters"};
  }
  std::string_view rest = name;
  while (true) {
    const auto dot = rest.find('.');
    if (!is_dns_label(rest.substr(0, dot))) {
      return Error{quoted(name) +
                   " is not a DNS subdomain (lower-case letters, digits, '-' and '.', starting and ending with a "
                   "letter or digit)"};
    }
    if (dot == std::string_view::npos) return Ok{};
    rest = rest.substr(dot + 1);
  }
}

Status check_label_key(std::string_view key) {
  if (key.empty()) return Error{"must not be empty"};
  std::string_view name = key;
  if (const auto slash = key.find('/'); slash != std::string_view::npos) {
    const std::string_view prefix = key.substr(0, slash);
    name = key.substr(slash + 1);
    if (name.find('/') != std::string_view::npos) {
      return Error{quoted(key) + " is not a valid label key (at most one '/')"};
    }
    if (prefix.empty()) return Error{quoted(key) + " is not a valid label key (empty prefix before '/')"};
    if (auto prefix_ok = check_dns_subdomain(prefix); !prefix_ok) {
      return Error{quoted(key) + " is not a valid label key: prefix " + prefix_ok.error().message};
    }
  }
  if (name.size() > kMaxNameLength || !is_label_token(name)) {
    return Error{quoted(key) +
                 " is not a valid label key (name part: at most 63 characters of letters, digits, '-', '_' and '.', "
                 "starting and ending with a letter or digit)"};
  }
  return Ok{};
}

Status check_label_value(std::string_view value) {
  if (value.empty()) return Ok{};
  if (value.size() > kMaxNameLength || !is_label_token(value)) {
    return Error{quoted(value) +
                 " is not a valid label value (at most 63 characters of letters, digits, '-', '_' and '.', starting "
                 "and ending with a letter or digit)"};
  }
  return Ok{};
}

}  // namespace jarvis::controller
