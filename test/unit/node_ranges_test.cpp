#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "common/node_ranges.hpp"

using jarvis::fold_node_names;
using jarvis::natural_less;
using jarvis::unfold_node_names;
using Names = std::vector<std::string>;

TEST_CASE("natural order compares digit runs as numbers", "[node_ranges]") {
  CHECK(natural_less("kind-worker2", "kind-worker10"));
  CHECK_FALSE(natural_less("kind-worker10", "kind-worker2"));
  CHECK(natural_less("kind-worker", "kind-worker2"));
  CHECK(natural_less("kind-control-plane", "kind-worker"));
  CHECK(natural_less("node1", "node01"));  // same number: fewer leading zeros first, never equal
  CHECK_FALSE(natural_less("node1", "node1"));
  CHECK(natural_less("rack2-node9", "rack10-node1"));
}

TEST_CASE("names fold into ClusterShell's compact range form", "[node_ranges]") {
  CHECK(fold_node_names({"kind-worker2", "kind-worker3", "kind-worker4", "kind-worker5", "kind-worker7"}) ==
        "kind-worker[2-5,7]");
  CHECK(fold_node_names({"kind-worker", "kind-worker3", "kind-worker2", "kind-control-plane"}) ==
        "kind-control-plane,kind-worker,kind-worker[2-3]");
  CHECK(fold_node_names({"node10", "node9", "node11", "node9"}) == "node[9-11]");
  CHECK(fold_node_names({"node01", "node02", "node03", "node10"}) == "node[01-03],node10");
  CHECK(fold_node_names({"r1-n1.example", "r1-n2.example", "r2-n1.example"}) == "r1-n[1-2].example,r2-n1.example");
  SECTION("names that share no pattern: a plain comma list") {
    CHECK(fold_node_names({"alpha", "gamma", "beta"}) == "alpha,beta,gamma");
    CHECK(fold_node_names({"db7", "web3"}) == "db7,web3");
  }
  CHECK(fold_node_names({"solo"}) == "solo");
  CHECK(fold_node_names(Names{}).empty());
}

TEST_CASE("the folded form reads back to the same names", "[node_ranges]") {
  Names names;
  for (int i = 0; i < 300; ++i)
    if (i % 7 != 3) names.push_back("worker-" + std::to_string(i) + ".zone-a");
  names.push_back("kind-control-plane");
  names.push_back("n007");
  names.push_back("n008");
  const std::string folded = fold_node_names(names);
  auto back = unfold_node_names(folded);
  auto sorted = names;
  std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return natural_less(a, b); });
  CHECK(back == sorted);
  CHECK(unfold_node_names("a,b[1-2]") == Names{"a", "b1", "b2"});
}

TEST_CASE("a bounded fold keeps whole names and says how many it left out", "[node_ranges]") {
  Names names;
  for (int i = 0; i < 5000; i += 2) names.push_back("worker-node-with-a-long-name-" + std::to_string(i));
  const std::string whole = fold_node_names(names);
  CHECK(fold_node_names(names, whole.size()) == whole);
  const std::string cut = fold_node_names(names, 200);
  INFO(cut);
  CHECK(cut.size() <= 200);
  CHECK(cut.rfind("worker-node-with-a-long-name-[0,2,4", 0) == 0);
  REQUIRE(cut.find(",... (+") != std::string::npos);
  // The names written plus the count left out make the whole set.
  const auto shown = unfold_node_names(cut.substr(0, cut.find(",... (+")));
  const auto more = std::stoul(cut.substr(cut.find("(+") + 2));
  CHECK(shown.size() + more == names.size());
  Names many_literals;
  for (int i = 0; i < 100; ++i) many_literals.push_back(std::string(1, static_cast<char>('a' + i % 26)) + "x-y-" + std::string(i / 26 + 1, 'q'));
  const std::string literal_cut = fold_node_names(many_literals, 64);
  CHECK(literal_cut.size() <= 64);
  CHECK(literal_cut.find("more)") != std::string::npos);
  CHECK(fold_node_names(names, 5) == "... (+2500 more)");
}
