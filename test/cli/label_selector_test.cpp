#include <catch2/catch.hpp>

#include "cli/label_selector.hpp"

using namespace jarvis;
using namespace jarvis::cli;
using controller::SelectorOperator;

namespace {

std::vector<controller::SelectorRequirement> parse_ok(std::string_view text) {
  auto term = parse_label_selector(text);
  INFO(text);
  REQUIRE(term);
  CHECK(term->match_fields.empty());
  return term->match_expressions;
}

std::string parse_error(std::string_view text) {
  auto term = parse_label_selector(text);
  INFO(text);
  REQUIRE_FALSE(term);
  return term.error().message;
}

}  // namespace

TEST_CASE("every kubectl selector form becomes a NodeSelector requirement") {
  auto r = parse_ok("a=b,c!=d,e in (x,y),f notin (z),g,!h,n>3,m<10,k==v");
  REQUIRE(r.size() == 9);
  CHECK((r[0].key == "a" && r[0].op == SelectorOperator::in && r[0].values == std::vector<std::string>{"b"}));
  CHECK((r[1].key == "c" && r[1].op == SelectorOperator::not_in && r[1].values == std::vector<std::string>{"d"}));
  CHECK((r[2].key == "e" && r[2].op == SelectorOperator::in && r[2].values == std::vector<std::string>{"x", "y"}));
  CHECK((r[3].key == "f" && r[3].op == SelectorOperator::not_in && r[3].values == std::vector<std::string>{"z"}));
  CHECK((r[4].key == "g" && r[4].op == SelectorOperator::exists && r[4].values.empty()));
  CHECK((r[5].key == "h" && r[5].op == SelectorOperator::does_not_exist && r[5].values.empty()));
  CHECK((r[6].key == "n" && r[6].op == SelectorOperator::gt && r[6].values == std::vector<std::string>{"3"}));
  CHECK((r[7].key == "m" && r[7].op == SelectorOperator::lt && r[7].values == std::vector<std::string>{"10"}));
  CHECK((r[8].key == "k" && r[8].op == SelectorOperator::in && r[8].values == std::vector<std::string>{"v"}));
}

TEST_CASE("spaces around operators, values and commas are allowed; prefixed keys too") {
  auto r = parse_ok(" node-role.kubernetes.io/worker , zone  in ( a , b ) , ! spot, tier = web ");
  REQUIRE(r.size() == 4);
  CHECK((r[0].key == "node-role.kubernetes.io/worker" && r[0].op == SelectorOperator::exists));
  CHECK((r[1].key == "zone" && r[1].values == std::vector<std::string>{"a", "b"}));
  CHECK((r[2].key == "spot" && r[2].op == SelectorOperator::does_not_exist));
  CHECK((r[3].key == "tier" && r[3].values == std::vector<std::string>{"web"}));
}

TEST_CASE("an empty value is a value (a=)") {
  auto r = parse_ok("a=");
  REQUIRE(r.size() == 1);
  CHECK(r[0].values == std::vector<std::string>{""});
}

TEST_CASE("errors quote the selector and name the bad part") {
  CHECK(parse_error("a=b,c in (x") == "label selector \"a=b,c in (x\": part \"c in (x\": missing \")\" after the values");
  CHECK_THAT(parse_error("a=b,c in x"), Catch::Contains("part \"c in x\"") && Catch::Contains("needs values in parentheses"));
  CHECK_THAT(parse_error("a=b,c foo (x)"), Catch::Contains("part \"c foo (x)\"") && Catch::Contains("unknown operator \"foo\""));
  CHECK_THAT(parse_error("bad key!=x"), Catch::Contains("part \"bad key!=x\"") && Catch::Contains("unknown operator \"key\""));
  CHECK_THAT(parse_error("-bad=x"), Catch::Contains("part \"-bad=x\"") && Catch::Contains("key \"-bad\""));
  CHECK_THAT(parse_error("a=b c"), Catch::Contains("part \"a=b c\"") && Catch::Contains("after the value"));
  CHECK_THAT(parse_error("a=x_"), Catch::Contains("value \"x_\""));
  CHECK_THAT(parse_error("n>x"), Catch::Contains("\">\" needs a whole number"));
  CHECK_THAT(parse_error("a in ()"), Catch::Contains("needs at least one value"));
  CHECK_THAT(parse_error("!"), Catch::Contains("needs a label key"));
  CHECK_THAT(parse_error("a,,b"), Catch::Contains("expected a label key"));
  CHECK_THAT(parse_error(""), Catch::Contains("empty"));
}

TEST_CASE("the translation selects the nodes kubectl's selector would") {
  auto term = parse_label_selector("zone in (a,b),tier!=db,!spot");
  REQUIRE(term);
  controller::NodeSelector selector{{*term}};
  REQUIRE(controller::validate(selector));
  auto node = [](std::map<std::string, std::string> labels) { return controller::NodeInfo{"n", std::move(labels)}; };
  CHECK(controller::matches(selector, node({{"zone", "a"}})));                     // tier absent: != matches
  CHECK(controller::matches(selector, node({{"zone", "b"}, {"tier", "web"}})));
  CHECK_FALSE(controller::matches(selector, node({{"zone", "c"}})));
  CHECK_FALSE(controller::matches(selector, node({{"zone", "a"}, {"tier", "db"}})));
  CHECK_FALSE(controller::matches(selector, node({{"zone", "a"}, {"spot", ""}})));
}
