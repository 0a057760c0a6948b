#include <string>

#include <catch2/catch.hpp>

#include "agent/output_buffer.hpp"

using jarvis::agent::OutputBuffer;

TEST_CASE("output within the capacity is kept whole", "[output]") {
  OutputBuffer buffer(10);
  buffer.append("abc");
  buffer.append("defghij");
  CHECK(buffer.contents() == "abcdefghij");
  CHECK(buffer.total_bytes() == 10);
  CHECK_FALSE(buffer.truncated());
}

TEST_CASE("output beyond the capacity keeps the first and last halves", "[output]") {
  OutputBuffer buffer(10);
  buffer.append("0123456789abcdefghij");
  CHECK(buffer.truncated());
  CHECK(buffer.total_bytes() == 20);
  CHECK(buffer.contents() == "01234\n[jarvis: 10 bytes omitted]\nfghij");
}

TEST_CASE("the tail follows the newest bytes whatever the chunk sizes", "[output]") {
  const std::string text = "line 1\nline 2\nline 3\nline 4\nline 5\nline 6\nline 7\n";
  for (std::size_t chunk = 1; chunk <= text.size(); ++chunk) {
    OutputBuffer buffer(14);
    for (std::size_t at = 0; at < text.size(); at += chunk) buffer.append(std::string_view(text).substr(at, chunk));
    INFO("chunk size " << chunk);
    CHECK(buffer.contents() == "line 1\n[jarvis: " + std::to_string(text.size() - 14) + " bytes omitted]\nline 7\n");
  }
}

TEST_CASE("the marker starts on its own line", "[output]") {
  CHECK(OutputBuffer::omission_marker(5, true) == "[jarvis: 5 bytes omitted]\n");
  CHECK(OutputBuffer::omission_marker(5, false) == "\n[jarvis: 5 bytes omitted]\n");
}

TEST_CASE("a capacity of one byte keeps the last byte", "[output]") {
  OutputBuffer buffer(1);
  buffer.append("abc");
  CHECK(buffer.contents() == "[jarvis: 2 bytes omitted]\nc");
}

TEST_CASE("no output is empty and not truncated", "[output]") {
  OutputBuffer buffer(1024);
  CHECK(buffer.contents().empty());
  CHECK(buffer.total_bytes() == 0);
  CHECK_FALSE(buffer.truncated());
}
