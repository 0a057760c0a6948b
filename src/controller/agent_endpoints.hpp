// Where each node's agent listens, read from the EndpointSlices of the agent Service. Only endpoints the
// Service would send traffic to count (ready), so a node whose agent is starting or terminating has no
// address and gets the "Agent not found" treatment instead of a doomed connection.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <rapidjson/document.h>

namespace jarvis::controller {

// nodeName -> "address:port" ("[v6-address]:port" for IPv6).
using AgentAddresses = std::map<std::string, std::string>;

// The port named "grpc" of each slice, else its first port, else `default_port`.
inline constexpr std::string_view kAgentPortName = "grpc";

// Adds the ready endpoints of one discovery.k8s.io/v1 EndpointSlice: conditions.ready true or absent
// (the API says absent means ready), nodeName set, first address. When several ready endpoints claim a
// node (a DaemonSet pod being replaced), the smallest address wins so the choice does not depend on the
// order slices arrive in. Malformed slices and entries are skipped: they name no usable agent.
void add_agent_endpoints(const rapidjson::Value& slice, std::uint16_t default_port, AgentAddresses& addresses);

AgentAddresses agent_addresses(const std::vector<const rapidjson::Value*>& slices, std::uint16_t default_port);

}  // namespace jarvis::controller
