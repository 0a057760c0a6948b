#include "kube/json_stream_splitter.hpp"

namespace jarvis::kube {

namespace {
bool is_json_space(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }
}  // namespace

Status JsonStreamSplitter::feed(std::string_view bytes, const OnObject& on_object) {
  std::size_t start = 0;  // where the current object begins within `bytes`
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    char c = bytes[i];
    if (!in_object_) {
      if (is_json_space(c)) continue;
      if (c != '{') {
        return Error{"watch stream: expected '{' starting an event, got byte " +
                     std::to_string(static_cast<unsigned char>(c))};
      }
      in_object_ = true;
      depth_ = 0;
      start = i;
    }
    if (in_string_) {
      if (escaped_) {
        escaped_ = false;
      } else if (c == '\\') {
        escaped_ = true;
      } else if (c == '"') {
        in_string_ = false;
      }
      continue;
    }
    if (c == '"') {
      in_string_ = true;
    } else if (c == '{' || c == '[') {
      ++depth_;
    } else if (c == '}' || c == ']') {
      if (--depth_ > 0) continue;
      in_object_ = false;
      std::string_view piece = bytes.substr(start, i + 1 - start);
      bool go_on;
      if (partial_.empty()) {
        go_on = on_object(piece);
      } else {
        partial_.append(piece);
        std::string object = std::move(partial_);
        partial_.clear();
        go_on = on_object(object);
      }
      if (!go_on) return Ok{};
    }
  }
  if (in_object_) {
    partial_.append(bytes.substr(start));
    if (partial_.size() > max_object_bytes_) {
      return Error{"watch stream: an event exceeds " + std::to_string(max_object_bytes_) + " bytes"};
    }
  }
  return Ok{};
}

}  // namespace jarvis::kube
