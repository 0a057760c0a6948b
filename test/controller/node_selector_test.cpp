// NodeSelector semantics, checked case by case against the behaviour of Kubernetes' nodeaffinity package.
#include <catch2/catch.hpp>

#include <rapidjson/document.h>

#include "controller/label_syntax.hpp"
#include "controller/node_selector.hpp"

using namespace jarvis::controller;

namespace {

using Op = SelectorOperator;

SelectorRequirement expr(std::string key, Op op, std::vector<std::string> values = {}) {
  return SelectorRequirement{std::move(key), op, std::move(values)};
}

NodeSelector one_term(std::vector<SelectorRequirement> expressions, std::vector<SelectorRequirement> fields = {}) {
  return NodeSelector{{NodeSelectorTerm{std::move(expressions), std::move(fields)}}};
}

const NodeInfo kind_worker{"kind-worker",
                           {{"kubernetes.io/hostname", "kind-worker"},
                            {"kubernetes.io/os", "linux"},
                            {"zone", "a"},
                            {"cores", "8"},
                            {"big", "99999999999999999999"},
                            {"word", "eight"},
                            {"empty", ""}}};

struct Case {
  const char* name;
  NodeSelector selector;
  bool expected;
};

}  // namespace

TEST_CASE("operators on labels match as in Kubernetes", "[node_selector]") {
  const std::vector<Case> cases = {
      {"In: value listed", one_term({expr("zone", Op::in, {"b", "a"})}), true},
      {"In: value not listed", one_term({expr("zone", Op::in, {"b"})}), false},
      {"In: label absent", one_term({expr("rack", Op::in, {"a"})}), false},
      {"In: empty label value listed", one_term({expr("empty", Op::in, {""})}), true},
      {"NotIn: value listed", one_term({expr("zone", Op::not_in, {"a"})}), false},
      {"NotIn: value not listed", one_term({expr("zone", Op::not_in, {"b", "c"})}), true},
      {"NotIn: label absent matches", one_term({expr("rack", Op::not_in, {"a"})}), true},
      {"Exists: present", one_term({expr("zone", Op::exists)}), true},
      {"Exists: present with empty value", one_term({expr("empty", Op::exists)}), true},
      {"Exists: absent", one_term({expr("rack", Op::exists)}), false},
      {"DoesNotExist: absent", one_term({expr("rack", Op::does_not_exist)}), true},
      {"DoesNotExist: present", one_term({expr("zone", Op::does_not_exist)}), false},
      {"Gt: greater", one_term({expr("cores", Op::gt, {"4"})}), true},
      {"Gt: equal is not greater", one_term({expr("cores", Op::gt, {"8"})}), false},
      {"Gt: smaller", one_term({expr("cores", Op::gt, {"16"})}), false},
      {"Gt: numeric not lexicographic", one_term({expr("cores", Op::gt, {"10"})}), false},
      {"Lt: smaller bound fails", one_term({expr("cores", Op::lt, {"8"})}), false},
      {"Lt: larger bound", one_term({expr("cores", Op::lt, {"10"})}), true},
      {"Gt: label absent", one_term({expr("rack", Op::gt, {"1"})}), false},
      {"Gt: label not an integer", one_term({expr("word", Op::gt, {"1"})}), false},
      {"Gt: label overflows int64", one_term({expr("big", Op::gt, {"1"})}), false},
      {"Lt: label empty", one_term({expr("empty", Op::lt, {"1"})}), false},
      {"Gt: bound not an integer (invalid term)", one_term({expr("cores", Op::gt, {"four"})}), false},
      {"Gt: two bounds (invalid term)", one_term({expr("cores", Op::gt, {"1", "2"})}), false},
      {"Gt: no bound (invalid term)", one_term({expr("cores", Op::gt)}), false},
      {"In: no values (invalid term)", one_term({expr("zone", Op::in)}), false},
      {"NotIn: no values (invalid term)", one_term({expr("rack", Op::not_in)}), false},
      {"Exists: with values (invalid term)", one_term({expr("zone", Op::exists, {"a"})}), false},
      {"In: invalid key (invalid term)", one_term({expr("bad key", Op::not_in, {"a"})}), false},
      {"NotIn: invalid value (invalid term)", one_term({expr("zone", Op::not_in, {"-x"})}), false},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    CHECK(matches(c.selector, kind_worker) == c.expected);
  }
}

TEST_CASE("terms are ORed, requirements ANDed, empty terms match nothing", "[node_selector]") {
  const auto zone_a = expr("zone", Op::in, {"a"});
  const auto zone_b = expr("zone", Op::in, {"b"});
  const auto linux = expr("kubernetes.io/os", Op::in, {"linux"});
  const std::vector<Case> cases = {
      {"no terms selects every node", NodeSelector{}, true},
      {"one empty term selects nothing", NodeSelector{{NodeSelectorTerm{}}}, false},
      {"empty term OR matching term", NodeSelector{{NodeSelectorTerm{}, NodeSelectorTerm{{zone_a}, {}}}}, true},
      {"AND of two matching", one_term({zone_a, linux}), true},
      {"AND with one failing", one_term({zone_b, linux}), false},
      {"OR: second term matches", NodeSelector{{NodeSelectorTerm{{zone_b}, {}}, NodeSelectorTerm{{linux}, {}}}}, true},
      {"OR: no term matches", NodeSelector{{NodeSelectorTerm{{zone_b}, {}}, NodeSelectorTerm{{zone_b}, {}}}}, false},
      {"an invalid term does not stop a valid one",
       NodeSelector{{NodeSelectorTerm{{expr("zone", Op::in)}, {}}, NodeSelectorTerm{{zone_a}, {}}}}, true},
      {"one invalid requirement fails its whole term", one_term({zone_a, expr("zone", Op::exists, {"x"})}), false},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    CHECK(matches(c.selector, kind_worker) == c.expected);
  }
}

TEST_CASE("matchFields select by metadata.name", "[node_selector]") {
  const auto name_in = [](std::string v) { return expr("metadata.name", Op::in, {std::move(v)}); };
  const auto name_not_in = [](std::string v) { return expr("metadata.name", Op::not_in, {std::move(v)}); };
  const std::vector<Case> cases = {
      {"In: own name", one_term({}, {name_in("kind-worker")}), true},
      {"In: other name", one_term({}, {name_in("kind-worker2")}), false},
      {"NotIn: own name", one_term({}, {name_not_in("kind-worker")}), false},
      {"NotIn: other name", one_term({}, {name_not_in("kind-worker2")}), true},
      {"fields AND expressions: both hold", one_term({expr("zone", Op::in, {"a"})}, {name_in("kind-worker")}), true},
      {"fields AND expressions: label fails", one_term({expr("zone", Op::in, {"b"})}, {name_in("kind-worker")}),
       false},
      {"In with two values (invalid term)", one_term({}, {expr("metadata.name", Op::in, {"kind-worker", "x"})}),
       false},
      {"Exists on a field (invalid term)", one_term({}, {expr("metadata.name", Op::exists)}), false},
      {"another field reads as empty: In fails", one_term({}, {expr("spec.unschedulable", Op::in, {"true"})}), false},
      {"another field reads as empty: NotIn holds", one_term({}, {expr("spec.unschedulable", Op::not_in, {"x"})}),
       true},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    CHECK(matches(c.selector, kind_worker) == c.expected);
  }
}

TEST_CASE("a node without a name skips field requirements, as Kubernetes does", "[node_selector]") {
  const NodeInfo nameless{"", {{"zone", "a"}}};
  CHECK(matches(one_term({}, {expr("metadata.name", Op::in, {"kind-worker"})}), nameless));
  CHECK_FALSE(matches(one_term({expr("zone", Op::in, {"b"})}, {expr("metadata.name", Op::in, {"x"})}), nameless));
}

TEST_CASE("integers parse like Go's strconv.ParseInt", "[node_selector]") {
  const auto gt = [](std::string label, std::string bound) {
    return matches(one_term({expr("n", Op::gt, {std::move(bound)})}), NodeInfo{"n1", {{"n", std::move(label)}}});
  };
  CHECK(gt("+5", "4"));
  CHECK(gt("-3", "-4") == false);  // "-4" is not a valid label value: the term is invalid
  CHECK(gt("0", "-0") == false);   // likewise
  CHECK(gt("9223372036854775807", "9223372036854775806"));
  CHECK_FALSE(gt("9223372036854775808", "1"));  // overflow
  CHECK(matches(one_term({expr("n", Op::lt, {"0"})}), NodeInfo{"n1", {{"n", "-9223372036854775808"}}}));
  CHECK_FALSE(gt("1_000", "1"));
  CHECK_FALSE(gt(" 5", "1"));
  CHECK_FALSE(gt("5 ", "1"));
  CHECK_FALSE(gt("0x10", "1"));
  CHECK_FALSE(gt("+", "0"));
  CHECK(gt("007", "6"));
}

TEST_CASE("the seed's two sample selectors", "[node_selector]") {
  const NodeInfo worker{"kind-worker", {{"kubernetes.io/hostname", "kind-worker"}, {"kubernetes.io/os", "linux"}}};
  const NodeInfo worker2{"kind-worker2", {{"kubernetes.io/hostname", "kind-worker2"}, {"kubernetes.io/os", "linux"}}};
  const NodeInfo windows{"win-1", {{"kubernetes.io/hostname", "win-1"}, {"kubernetes.io/os", "windows"}}};

  const auto linux_nodes = one_term({expr("kubernetes.io/os", Op::in, {"linux"})});
  CHECK(matches(linux_nodes, worker));
  CHECK(matches(linux_nodes, worker2));
  CHECK_FALSE(matches(linux_nodes, windows));

  const auto one_host = one_term({expr("kubernetes.io/hostname", Op::in, {"kind-worker"})});
  CHECK(matches(one_host, worker));
  CHECK_FALSE(matches(one_host, worker2));
  CHECK_FALSE(matches(one_host, windows));
}

TEST_CASE("validate reports every problem with its field path", "[node_selector]") {
  CHECK(validate(NodeSelector{}).ok());
  CHECK(validate(NodeSelector{{NodeSelectorTerm{}}}).ok());
  CHECK(validate(one_term({expr("a", Op::in, {"x"}), expr("b", Op::exists), expr("c", Op::lt, {"10"})},
                          {expr("metadata.name", Op::not_in, {"n1"})}))
            .ok());

  struct Bad {
    NodeSelector selector;
    std::string message;
  };
  const std::string t0 = "spec.selector.nodeSelectorTerms[0]";
  const std::vector<Bad> bad = {
      {one_term({expr("zone", Op::in)}), t0 + ".matchExpressions[0].values: In and NotIn need at least one value"},
      {one_term({expr("zone", Op::not_in)}), t0 + ".matchExpressions[0].values: In and NotIn need at least one value"},
      {one_term({expr("zone", Op::exists, {"a"})}),
       t0 + ".matchExpressions[0].values: Exists and DoesNotExist take no values"},
      {one_term({expr("zone", Op::does_not_exist, {"a"})}),
       t0 + ".matchExpressions[0].values: Exists and DoesNotExist take no values"},
      {one_term({expr("cores", Op::gt)}), t0 + ".matchExpressions[0].values: Gt and Lt need exactly one value"},
      {one_term({expr("cores", Op::lt, {"1", "2"})}), t0 + ".matchExpressions[0].values: Gt and Lt need exactly one value"},
      {one_term({expr("cores", Op::gt, {"four"})}),
       t0 + ".matchExpressions[0].values[0]: \"four\" is not an integer (Gt and Lt compare integers)"},
      {one_term({expr("", Op::exists)}), t0 + ".matchExpressions[0].key: must not be empty"},
      {one_term({}, {expr("metadata.labels", Op::in, {"x"})}),
       t0 + ".matchFields[0].key: unsupported field \"metadata.labels\" (want metadata.name)"},
      {one_term({}, {expr("metadata.name", Op::exists)}),
       t0 + ".matchFields[0].operator: unsupported operator \"Exists\" for matchFields (want In, NotIn)"},
      {one_term({}, {expr("metadata.name", Op::in, {"a", "b"})}),
       t0 + ".matchFields[0].values: matchFields with In or NotIn need exactly one value"},
  };
  for (const auto& b : bad) {
    const auto result = validate(b.selector);
    REQUIRE_FALSE(result.ok());
    CHECK(result.error().message == b.message);
  }

  const NodeSelector two_problems{{NodeSelectorTerm{{expr("a", Op::in, {"x"})}, {}},
                                   NodeSelectorTerm{{expr("a", Op::in, {"x"}), expr("b", Op::gt)}, {}},
                                   NodeSelectorTerm{{}, {expr("metadata.name", Op::in, {"Not_A_Node"})}}}};
  const auto result = validate(two_problems, "sel");
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().message ==
        "sel.nodeSelectorTerms[1].matchExpressions[1].values: Gt and Lt need exactly one value; "
        "sel.nodeSelectorTerms[2].matchFields[0].values[0]: \"Not_A_Node\" is not a DNS subdomain (lower-case "
        "letters, digits, '-' and '.', starting and ending with a letter or digit)");
}

TEST_CASE("label and name syntax", "[node_selector]") {
  for (const char* key : {"a", "zone", "kubernetes.io/hostname", "node-role.kubernetes.io/control-plane", "A.b_c-9",
                          "x/y"}) {
    INFO(key);
    CHECK(check_label_key(key).ok());
  }
  for (const char* key : {"", "/a", "a/", "a/b/c", "-a", "a-", "Upper.Case/x", "a b", "a..b/c",
                          "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}) {
    INFO(key);
    CHECK_FALSE(check_label_key(key).ok());
  }
  for (const char* value : {"", "a", "linux", "v1.2.3", "a_b-c.d", "8"}) {
    INFO(value);
    CHECK(check_label_value(value).ok());
  }
  for (const char* value : {"-a", "a-", "a b", "a/b", "-1",
                            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}) {
    INFO(value);
    CHECK_FALSE(check_label_value(value).ok());
  }
  CHECK(check_dns_subdomain("kind-worker2").ok());
  CHECK(check_dns_subdomain("node.example.com").ok());
  CHECK_FALSE(check_dns_subdomain("Kind-Worker").ok());
  CHECK_FALSE(check_dns_subdomain("a..b").ok());
  CHECK_FALSE(check_dns_subdomain(std::string(254, 'a')).ok());
  CHECK(check_dns_subdomain(std::string(253, 'a')).ok());
}

TEST_CASE("parse_node_info reads name and labels of a Node", "[node_selector]") {
  rapidjson::Document doc;
  doc.Parse(R"({"kind":"Node","metadata":{"name":"kind-worker","labels":{"zone":"a","kubernetes.io/os":"linux"}}})");
  const auto info = parse_node_info(doc);
  REQUIRE(info.ok());
  CHECK(info->name == "kind-worker");
  CHECK(info->labels == std::map<std::string, std::string>{{"zone", "a"}, {"kubernetes.io/os", "linux"}});

  doc.Parse(R"({"metadata":{"name":"bare"}})");
  const auto bare = parse_node_info(doc);
  REQUIRE(bare.ok());
  CHECK(bare->labels.empty());

  doc.Parse(R"({"metadata":{"labels":{}}})");
  CHECK_FALSE(parse_node_info(doc).ok());
  doc.Parse(R"({"metadata":{"name":"n","labels":{"a":1}}})");
  const auto bad = parse_node_info(doc);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().message == "node n: metadata.labels.a is not a string");
}
