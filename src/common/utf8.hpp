// Command output is arbitrary bytes; JSON (logs, events, status) needs valid UTF-8.
#pragma once

#include <string>
#include <string_view>

namespace jarvis {

// Returns `in` with every invalid UTF-8 sequence replaced by U+FFFD.
std::string valid_utf8(std::string_view in);

// Longest prefix of `in` no longer than max_bytes that does not end inside a UTF-8 sequence.
std::string_view utf8_prefix(std::string_view in, std::size_t max_bytes);

}  // namespace jarvis
