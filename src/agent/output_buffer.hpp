// OutputBuffer: the bounded capture of a command's combined output.
//
// Memory never exceeds the capacity, whatever the command prints. When the output is longer than the
// capacity, the first half of the capacity (how the command started: its banner, its first error) and the
// last half (how it ended: the final error, a summary) are kept; the middle is dropped and counted.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace jarvis::agent {

class OutputBuffer {
 public:
  explicit OutputBuffer(std::size_t capacity);

  void append(std::string_view bytes);

  // Everything the command printed, kept or not.
  std::uint64_t total_bytes() const { return total_bytes_; }
  bool truncated() const { return total_bytes_ > head_capacity_ + tail_capacity_; }

  // The kept output in order; when truncated, the head and the tail joined by omission_marker().
  std::string contents() const;

  // The line put between the head and the tail, e.g. "[jarvis: 1048576 bytes omitted]\n", preceded by a
  // newline when the head does not end with one.
  static std::string omission_marker(std::uint64_t omitted_bytes, bool head_ends_line);

 private:
  void append_to_tail(std::string_view bytes);

  std::size_t head_capacity_;
  std::size_t tail_capacity_;
  std::string head_;
  std::string tail_;             // a ring once full: the oldest byte is at tail_start_
  std::size_t tail_start_ = 0;
  std::uint64_t total_bytes_ = 0;
};

}  // namespace jarvis::agent
