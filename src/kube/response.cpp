#include "kube/response.hpp"

#include "common/json.hpp"
#include "kube/watch_event.hpp"

namespace jarvis::kube {

std::string describe_response(const Response& r) {
  std::string text = "HTTP " + std::to_string(r.status);
  rapidjson::Document doc;
  doc.Parse(r.body.data(), r.body.size());
  if (!doc.HasParseError() && string_at(doc, {"kind"}) == "Status") return text + " " + describe_status(doc);
  constexpr std::size_t kShown = 200;
  if (!r.body.empty()) text += ": " + r.body.substr(0, kShown) + (r.body.size() > kShown ? "..." : "");
  return text;
}

bool is_expired(const Response& r) {
  if (r.status == 410) return true;
  if (is_success(r)) return false;
  rapidjson::Document doc;
  doc.Parse(r.body.data(), r.body.size());
  return !doc.HasParseError() && string_at(doc, {"kind"}) == "Status" && is_expired_status(doc);
}

}  // namespace jarvis::kube
