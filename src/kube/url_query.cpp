#include "kube/url_query.hpp"

namespace jarvis::kube {

namespace {
bool is_unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
         c == '_' || c == '~';
}
}  // namespace

std::string percent_encode(std::string_view text) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (char ch : text) {
    auto c = static_cast<unsigned char>(ch);
    if (is_unreserved(c)) {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 0x0F]);
    }
  }
  return out;
}

QueryString& QueryString::add(std::string_view key, std::string_view value) {
  text_.push_back(text_.empty() ? '?' : '&');
  text_ += percent_encode(key);
  text_.push_back('=');
  text_ += percent_encode(value);
  return *this;
}

QueryString& QueryString::add_if_set(std::string_view key, std::string_view value) {
  if (!value.empty()) add(key, value);
  return *this;
}

}  // namespace jarvis::kube
