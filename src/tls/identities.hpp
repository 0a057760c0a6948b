// The names Jarvis's certificates carry, and the one place each side's expected peer is decided. Agents
// accept only the controller's identity and the controller only the agents', so the agent key (present on
// every node) never lets one node command another.
#pragma once

#include <string_view>

namespace jarvis::tls {

inline constexpr std::string_view ca_common_name = "jarvis-ca";
inline constexpr std::string_view controller_identity = "jarvis-controller";
inline constexpr std::string_view agent_identity = "jarvis-agent";

// The files of a TLS directory: the agent's Secret volume (keys of Secret jarvis-agent-tls) and the
// controller's own --tls-dir use the same names.
inline constexpr std::string_view ca_file = "ca.crt";
inline constexpr std::string_view certificate_file = "tls.crt";
inline constexpr std::string_view private_key_file = "tls.key";

}  // namespace jarvis::tls
