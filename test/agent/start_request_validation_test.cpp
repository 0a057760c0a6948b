#include <string>

#include <catch2/catch.hpp>

#include "agent/execution_proto.hpp"
#include "agent/start_request_validation.hpp"

using namespace std::chrono_literals;
namespace agent = jarvis::agent;

namespace {

jarvis::v1::StartRequest request(std::string id, std::string command, std::uint32_t timeout = 0) {
  jarvis::v1::StartRequest r;
  r.set_execution_id(std::move(id));
  r.set_command(std::move(command));
  r.set_timeout_seconds(timeout);
  return r;
}

}  // namespace

TEST_CASE("a well-formed start request is accepted", "[validation]") {
  CHECK_FALSE(agent::start_request_problem(request("default.cmd-1:node-a", "uptime")).has_value());
  CHECK_FALSE(agent::start_request_problem(request("a.b_c-d:e", "x", 86400)).has_value());
  CHECK_FALSE(agent::start_request_problem(request(std::string(253, 'x'), std::string(64 * 1024, 'x'))).has_value());
}

TEST_CASE("execution ids are 1 to 253 characters from a fixed set", "[validation]") {
  CHECK(agent::execution_id_problem("") ==
        std::string("execution_id is empty; it must be 1 to 253 characters from [A-Za-z0-9._:-]"));
  const std::string invalid = "execution_id is invalid; it must be 1 to 253 characters from [A-Za-z0-9._:-]";
  CHECK(agent::execution_id_problem(std::string(254, 'x')) == invalid);
  CHECK(agent::execution_id_problem("has space") == invalid);
  CHECK(agent::execution_id_problem("slash/") == invalid);
  CHECK(agent::execution_id_problem("ok-ID_1.2:3") == std::nullopt);
}

TEST_CASE("empty, oversized and over-long requests are refused with the field named", "[validation]") {
  CHECK(agent::start_request_problem(request("id", "")) == std::string("command is empty"));
  CHECK(agent::start_request_problem(request("id", std::string(64 * 1024 + 1, 'x'))) ==
        std::string("command is 65537 bytes; the most accepted is 65536"));
  CHECK(agent::start_request_problem(request("id", "true", 86401)) ==
        std::string("timeout_seconds is 86401; the most accepted is 86400 (0 means the agent's --default-timeout)"));
  CHECK(agent::start_request_problem(request("", "true")).has_value());
}

TEST_CASE("zero fields take the agent's defaults and the output cap is never raised", "[validation]") {
  const agent::RequestDefaults defaults{.timeout = 300s, .max_output_bytes = 1000};
  auto r = request("id", "true");
  r.mutable_origin()->set_namespace_("team-a");
  r.mutable_origin()->set_generation(7);
  auto spec = agent::to_spec(r, defaults);
  CHECK(spec.timeout == 300s);
  CHECK(spec.max_output_bytes == 1000);
  CHECK(spec.origin.namespace_name == "team-a");
  CHECK(spec.origin.generation == 7);

  r.set_timeout_seconds(5);
  r.set_max_output_bytes(10);
  spec = agent::to_spec(r, defaults);
  CHECK(spec.timeout == 5s);
  CHECK(spec.max_output_bytes == 10);

  r.set_max_output_bytes(5000);
  CHECK(agent::to_spec(r, defaults).max_output_bytes == 1000);
}
