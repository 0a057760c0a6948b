// The framing of the journal's records: the magic "JRN1", the payload length (4 bytes, little-endian), a
// CRC-32 of the length bytes and the payload (4 bytes, little-endian), then the payload. A torn write
// leaves a frame whose length points past the end of the file or whose CRC does not match; corrupted bytes
// fail the CRC. The magic lets a reader find the next intact frame after damage.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace jarvis::agent {

inline constexpr std::size_t frame_header_bytes = 12;
// Far above the largest record (a result with 64 MiB of output); a longer length is damage.
inline constexpr std::size_t max_frame_payload_bytes = 128u << 20;

std::string encode_frame(std::string_view payload);

// The payload of the frame that starts at `offset` in `data`, or nothing when no whole, intact frame does.
std::optional<std::string_view> decode_frame(std::string_view data, std::size_t offset);

// Where the next whole, intact frame after `offset` starts; data.size() when there is none.
std::size_t next_intact_frame(std::string_view data, std::size_t offset);

}  // namespace jarvis::agent
