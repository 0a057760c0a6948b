// kubectl's label selector syntax (`a=b,c!=d,e in (x,y),f notin (z),g,!h,n>3`) translated into the
// NodeSelector term a Command carries (README "The Command resource"): requirements ANDed in one term, with
// the same meaning a label selector has (`c!=d` and `notin` also match nodes without the label).
#pragma once

#include <string_view>

#include "common/result.hpp"
#include "controller/node_selector.hpp"

namespace jarvis::cli {

// One NodeSelectorTerm of matchExpressions. Errors quote the selector and name the bad part and why, e.g.
// `label selector "a=b,c in (x": part "c in (x": missing ")" after the values`.
Result<controller::NodeSelectorTerm> parse_label_selector(std::string_view selector);

}  // namespace jarvis::cli
