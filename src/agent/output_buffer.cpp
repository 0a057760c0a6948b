#include "agent/output_buffer.hpp"

#include <algorithm>

namespace jarvis::agent {

OutputBuffer::OutputBuffer(std::size_t capacity)
    : head_capacity_(capacity / 2), tail_capacity_(capacity - capacity / 2) {}

void OutputBuffer::append(std::string_view bytes) {
  total_bytes_ += bytes.size();
  const std::size_t to_head = std::min(bytes.size(), head_capacity_ - head_.size());
  head_.append(bytes.substr(0, to_head));
  bytes.remove_prefix(to_head);
  if (!bytes.empty()) append_to_tail(bytes);
}

void OutputBuffer::append_to_tail(std::string_view bytes) {
  if (tail_capacity_ == 0) return;
  if (bytes.size() >= tail_capacity_) {
    tail_.assign(bytes.substr(bytes.size() - tail_capacity_));
    tail_start_ = 0;
    return;
  }
  const std::size_t room = tail_capacity_ - tail_.size();
  const std::size_t to_fill = std::min(room, bytes.size());
  tail_.append(bytes.substr(0, to_fill));
  bytes.remove_prefix(to_fill);
  while (!bytes.empty()) {
    const std::size_t n = std::min(bytes.size(), tail_capacity_ - tail_start_);
    tail_.replace(tail_start_, n, bytes.substr(0, n));
    tail_start_ = (tail_start_ + n) % tail_capacity_;
    bytes.remove_prefix(n);
  }
}

std::string OutputBuffer::omission_marker(std::uint64_t omitted_bytes, bool head_ends_line) {
  std::string marker = head_ends_line ? "" : "\n";
  marker += "[jarvis: " + std::to_string(omitted_bytes) + " bytes omitted]\n";
  return marker;
}

std::string OutputBuffer::contents() const {
  const std::string_view tail(tail_);
  const auto oldest = tail.substr(tail_start_);
  const auto newest = tail.substr(0, tail_start_);
  if (!truncated()) return head_ + std::string(oldest) + std::string(newest);
  const std::uint64_t omitted = total_bytes_ - head_.size() - tail_.size();
  const bool head_ends_line = head_.empty() || head_.back() == '\n';
  std::string out = head_;
  out += omission_marker(omitted, head_ends_line);
  out += oldest;
  out += newest;
  return out;
}

}  // namespace jarvis::agent
