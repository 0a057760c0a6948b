#include "controller/agent_endpoints.hpp"

#include <optional>

namespace jarvis::controller {
namespace {

const rapidjson::Value* member(const rapidjson::Value& object, const char* name) {
  if (!object.IsObject()) return nullptr;
  const auto it = object.FindMember(name);
  if (it == object.MemberEnd() || it->value.IsNull()) return nullptr;
  return &it->value;
}

std::optional<std::uint16_t> port_number(const rapidjson::Value& port) {
  const auto* number = member(port, "port");
  if (number == nullptr || !number->IsUint() || number->GetUint() == 0 || number->GetUint() > 65535) {
    return std::nullopt;
  }
  return static_cast<std::uint16_t>(number->GetUint());
}

std::uint16_t slice_port(const rapidjson::Value& slice, std::uint16_t default_port) {
  const auto* ports = member(slice, "ports");
  if (ports == nullptr || !ports->IsArray() || ports->Empty()) return default_port;
  for (const auto& port : ports->GetArray()) {
    const auto* name = member(port, "name");
    if (name != nullptr && name->IsString() && name->GetString() == kAgentPortName) {
      return port_number(port).value_or(default_port);
    }
  }
  return port_number((*ports)[0]).value_or(default_port);
}

bool is_ready(const rapidjson::Value& endpoint) {
  const auto* conditions = member(endpoint, "conditions");
  if (conditions == nullptr) return true;
  const auto* ready = member(*conditions, "ready");
  return ready == nullptr || (ready->IsBool() && ready->GetBool());
}

std::string host_port(std::string_view address, std::uint16_t port) {
  const bool ipv6 = address.find(':') != std::string_view::npos;
  return (ipv6 ? "[" + std::string(address) + "]" : std::string(address)) + ":" + std::to_string(port);
}

}  // namespace

void add_agent_endpoints(const rapidjson::Value& slice, std::uint16_t default_port, AgentAddresses& addresses) {
  const auto* endpoints = member(slice, "endpoints");
  if (endpoints == nullptr || !endpoints->IsArray()) return;
  const std::uint16_t port = slice_port(slice, default_port);
  for (const auto& endpoint : endpoints->GetArray()) {
    if (!endpoint.IsObject() || !is_ready(endpoint)) continue;
    const auto* node = member(endpoint, "nodeName");
    const auto* list = member(endpoint, "addresses");
    if (node == nullptr || !node->IsString() || node->GetStringLength() == 0) continue;
    if (list == nullptr || !list->IsArray() || list->Empty() || !(*list)[0].IsString()) continue;
    const std::string_view address((*list)[0].GetString(), (*list)[0].GetStringLength());
    if (address.empty()) continue;
    std::string candidate = host_port(address, port);
    auto [it, inserted] = addresses.try_emplace(node->GetString(), candidate);
    if (!inserted && candidate < it->second) it->second = std::move(candidate);
  }
}

AgentAddresses agent_addresses(const std::vector<const rapidjson::Value*>& slices, std::uint16_t default_port) {
  AgentAddresses addresses;
  for (const auto* slice : slices) {
    if (slice != nullptr) add_agent_endpoints(*slice, default_port, addresses);
  }
  return addresses;
}

}  // namespace jarvis::controller
