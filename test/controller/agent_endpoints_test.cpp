// Agent addresses from EndpointSlices of the agent Service.
#include <catch2/catch.hpp>

#include <rapidjson/document.h>

#include "controller/agent_endpoints.hpp"

using namespace jarvis::controller;

namespace {

rapidjson::Document json(const char* text) {
  rapidjson::Document doc;
  doc.Parse(text);
  REQUIRE_FALSE(doc.HasParseError());
  return doc;
}

}  // namespace

TEST_CASE("ready endpoints map nodes to address:port of the grpc port", "[agent_endpoints]") {
  const auto slice = json(R"({"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice","addressType":"IPv4",
    "metadata":{"name":"jarvis-agent-abc","labels":{"kubernetes.io/service-name":"jarvis-agent"}},
    "ports":[{"name":"metrics","port":9090,"protocol":"TCP"},{"name":"grpc","port":7443,"protocol":"TCP"}],
    "endpoints":[
      {"addresses":["10.244.1.5"],"conditions":{"ready":true,"serving":true,"terminating":false},"nodeName":"kind-worker"},
      {"addresses":["10.244.2.7","10.244.2.8"],"conditions":{"ready":false},"nodeName":"kind-worker2"},
      {"addresses":["10.244.0.3"],"nodeName":"kind-control-plane"},
      {"addresses":["10.244.0.9"],"conditions":{},"nodeName":"kind-worker3"},
      {"addresses":["10.244.3.1"],"conditions":{"ready":true}},
      {"addresses":[],"conditions":{"ready":true},"nodeName":"no-address"},
      {"addresses":["10.244.4.1"],"conditions":{"ready":null},"nodeName":"null-ready"}
    ]})");
  const auto addresses = agent_addresses({&slice}, 50051);
  CHECK(addresses == AgentAddresses{{"kind-worker", "10.244.1.5:7443"},
                                    {"kind-control-plane", "10.244.0.3:7443"},
                                    {"kind-worker3", "10.244.0.9:7443"},
                                    {"null-ready", "10.244.4.1:7443"}});
}

TEST_CASE("port choice: named grpc, else first, else the default", "[agent_endpoints]") {
  const char* endpoint = R"("endpoints":[{"addresses":["10.0.0.1"],"nodeName":"n1"}])";
  const auto port_of = [&](const std::string& ports) {
    const auto slice = json(("{" + ports + endpoint + "}").c_str());
    AgentAddresses out;
    add_agent_endpoints(slice, 50051, out);
    REQUIRE(out.size() == 1);
    return out.at("n1");
  };
  CHECK(port_of(R"("ports":[{"name":"other","port":1},{"name":"grpc","port":2}],)") == "10.0.0.1:2");
  CHECK(port_of(R"("ports":[{"name":"other","port":1},{"name":"more","port":2}],)") == "10.0.0.1:1");
  CHECK(port_of(R"("ports":[{"port":3}],)") == "10.0.0.1:3");
  CHECK(port_of(R"("ports":[],)") == "10.0.0.1:50051");
  CHECK(port_of(R"("ports":null,)") == "10.0.0.1:50051");
  CHECK(port_of("") == "10.0.0.1:50051");
  CHECK(port_of(R"("ports":[{"name":"grpc"}],)") == "10.0.0.1:50051");
}

TEST_CASE("IPv6 addresses are bracketed", "[agent_endpoints]") {
  const auto slice = json(R"({"addressType":"IPv6","ports":[{"name":"grpc","port":7443}],
    "endpoints":[{"addresses":["fd00::5"],"nodeName":"n1"}]})");
  CHECK(agent_addresses({&slice}, 1) == AgentAddresses{{"n1", "[fd00::5]:7443"}});
}

TEST_CASE("several slices and several endpoints on one node", "[agent_endpoints]") {
  const auto a = json(R"({"ports":[{"name":"grpc","port":7443}],"endpoints":[
      {"addresses":["10.0.0.9"],"nodeName":"n1"},{"addresses":["10.0.1.1"],"nodeName":"n2"}]})");
  const auto b = json(R"({"ports":[{"name":"grpc","port":7443}],"endpoints":[
      {"addresses":["10.0.0.2"],"nodeName":"n1"},{"addresses":["10.0.3.3"],"conditions":{"ready":false},"nodeName":"n3"}]})");
  const AgentAddresses expected{{"n1", "10.0.0.2:7443"}, {"n2", "10.0.1.1:7443"}};
  CHECK(agent_addresses({&a, &b}, 1) == expected);
  CHECK(agent_addresses({&b, &a}, 1) == expected);
}

TEST_CASE("malformed slices name no agent and do not throw", "[agent_endpoints]") {
  for (const char* text : {R"([])", R"({})", R"({"endpoints":{}})", R"({"endpoints":[1,"x",null]})",
                           R"({"endpoints":[{"addresses":[5],"nodeName":"n"}]})",
                           R"({"endpoints":[{"addresses":["1.2.3.4"],"nodeName":7}]})",
                           R"({"endpoints":[{"addresses":["1.2.3.4"],"nodeName":""}]})",
                           R"({"endpoints":[{"addresses":["1.2.3.4"],"nodeName":"n","conditions":{"ready":"yes"}}]})",
                           R"({"ports":[{"name":"grpc","port":70000}],"endpoints":[{"addresses":[""],"nodeName":"n"}]})"}) {
    INFO(text);
    const auto slice = json(text);
    CHECK(agent_addresses({&slice}, 1).empty());
  }
}
