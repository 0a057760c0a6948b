// Standard base64 (RFC 4648 §4): kubeconfig *-data fields and Secret data.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace jarvis::kube {

// Whitespace is ignored and padding is optional; nullopt on any other character or a dangling bit group.
std::optional<std::string> base64_decode(std::string_view text);

// With padding, without line breaks.
std::string base64_encode(std::string_view bytes);

}  // namespace jarvis::kube
