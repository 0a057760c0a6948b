// Cuts a watch response body into its JSON objects as the bytes arrive. kube-apiserver writes one object per
// event followed by a newline, but HTTP chunks do not follow event boundaries: an event can span chunks and a
// chunk can hold several. The splitter finds object boundaries by tracking nesting depth outside of string
// literals, so it depends neither on the newline nor on the chunking, and holds at most one incomplete object.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace jarvis::kube {

class JsonStreamSplitter {
 public:
  // Called with each complete object (valid only during the call); returns false to stop splitting.
  using OnObject = std::function<bool(std::string_view object)>;

  explicit JsonStreamSplitter(std::size_t max_object_bytes = 64 * 1024 * 1024) : max_object_bytes_(max_object_bytes) {}

  // Feeds the next bytes of the stream. Fails when something other than an object starts at the top level or
  // an object outgrows the limit; the splitter is unusable afterwards. After `on_object` returned false the
  // rest of `bytes` is dropped.
  Status feed(std::string_view bytes, const OnObject& on_object);

  // Bytes of an incomplete object held until its end arrives.
  std::size_t buffered() const { return partial_.size(); }

 private:
  std::size_t max_object_bytes_;
  std::string partial_;
  bool in_object_ = false;
  bool in_string_ = false;
  bool escaped_ = false;
  int depth_ = 0;
};

}  // namespace jarvis::kube
