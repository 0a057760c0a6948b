// Query strings for API paths, percent-encoded so selectors such as `a in (x,y)` or `k!=v` survive.
#pragma once

#include <string>
#include <string_view>

namespace jarvis::kube {

// RFC 3986 percent-encoding: everything but unreserved characters (A-Z a-z 0-9 - . _ ~) becomes %XX.
std::string percent_encode(std::string_view text);

class QueryString {
 public:
  QueryString& add(std::string_view key, std::string_view value);
  // Adds nothing when `value` is empty: an empty selector or continue token means "none".
  QueryString& add_if_set(std::string_view key, std::string_view value);
  // "?k=v&k2=v2", or "" when nothing was added.
  const std::string& str() const { return text_; }

 private:
  std::string text_;
};

}  // namespace jarvis::kube
