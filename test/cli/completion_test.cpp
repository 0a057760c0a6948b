#include <catch2/catch.hpp>

#include "cli/completion.hpp"

using namespace jarvis::cli;
using V = std::vector<std::string>;

TEST_CASE("completion offers subcommands, their flags and output formats") {
  CHECK(complete({""}) == V{"run", "get", "describe", "logs", "rerun", "completion"});
  CHECK(complete({"r"}) == V{"run", "rerun"});
  CHECK(complete({"run", "--max"}) == V{"--max-concurrency", "--max-failures"});
  CHECK(complete({"get", "x", "-o", ""}) == V{"folded", "lines", "json", "yaml"});
  CHECK(complete({"completion", ""}) == V{"bash", "zsh"});
  CHECK(complete({"run", "--all", "--", "ls", "-"}).empty());
  CHECK(completion_script("bash")->find("complete -F _kubectl_jarvis kubectl-jarvis") != std::string::npos);
  CHECK(completion_script("zsh")->find("compdef _kubectl_jarvis kubectl-jarvis") != std::string::npos);
  CHECK_FALSE(completion_script("fish"));
}
