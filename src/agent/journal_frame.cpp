#include "agent/journal_frame.hpp"

#include <array>
#include <cstdint>

#include <boost/crc.hpp>

namespace jarvis::agent {

namespace {

constexpr std::string_view magic = "JRN1";

void put_u32(std::string& out, std::uint32_t value) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}

std::uint32_t get_u32(std::string_view bytes) {
  std::uint32_t value = 0;
  for (int i = 0; i < 4; ++i) value |= static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i])) << (8 * i);
  return value;
}

std::uint32_t checksum(std::string_view length_bytes, std::string_view payload) {
  boost::crc_32_type crc;
  crc.process_bytes(length_bytes.data(), length_bytes.size());
  crc.process_bytes(payload.data(), payload.size());
  return crc.checksum();
}

}  // namespace

std::string encode_frame(std::string_view payload) {
  std::string frame;
  frame.reserve(frame_header_bytes + payload.size());
  frame.append(magic);
  put_u32(frame, static_cast<std::uint32_t>(payload.size()));
  put_u32(frame, checksum(std::string_view(frame).substr(4, 4), payload));
  frame.append(payload);
  return frame;
}

std::optional<std::string_view> decode_frame(std::string_view data, std::size_t offset) {
  if (offset > data.size() || data.size() - offset < frame_header_bytes) return std::nullopt;
  const std::string_view header = data.substr(offset, frame_header_bytes);
  if (header.substr(0, 4) != magic) return std::nullopt;
  const std::size_t length = get_u32(header.substr(4, 4));
  if (length > max_frame_payload_bytes || data.size() - offset - frame_header_bytes < length) return std::nullopt;
  const std::string_view payload = data.substr(offset + frame_header_bytes, length);
  if (checksum(header.substr(4, 4), payload) != get_u32(header.substr(8, 4))) return std::nullopt;
  return payload;
}

std::size_t next_intact_frame(std::string_view data, std::size_t offset) {
  for (std::size_t at = data.find(magic, offset + 1); at != std::string_view::npos; at = data.find(magic, at + 1))
    if (decode_frame(data, at)) return at;
  return data.size();
}

}  // namespace jarvis::agent
