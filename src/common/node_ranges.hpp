// Node names folded into compact range form, as ClusterShell's clubak does: kind-worker, kind-worker2,
// kind-worker3, kind-worker5 -> "kind-worker,kind-worker[2-3,5]". Names that differ only in their last run of
// digits share one bracket; a name with no digits (or alone in its pattern) is written as it is, so names that
// share no pattern fall back to a plain comma list. Pure functions, no I/O.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace jarvis {

// Orders names with their digit runs compared as numbers: kind-worker2 < kind-worker10 < kind-worker11.
// A strict weak order that ties only equal strings.
bool natural_less(std::string_view a, std::string_view b);

// `names` (any order, duplicates ignored) in compact range form. Patterns appear in the natural order of
// their first name; inside a bracket, numbers ascend and runs of consecutive numbers become `a-b`.
// Zero-padded numbers keep their width (node[01-03]) and only join numbers of the same width.
std::string fold_node_names(std::vector<std::string> names);

// As fold_node_names, at most about `max_bytes` long: when the whole form is longer, as many names as fit
// followed by `,... (+N more)` (N the names left out). Never cuts inside a name.
std::string fold_node_names(std::vector<std::string> names, std::size_t max_bytes);

// The names a compact range form stands for (the inverse of fold_node_names, for forms it wrote without a
// `... (+N more)` tail), in natural order. Text that is not a range form reads as comma-separated names.
std::vector<std::string> unfold_node_names(std::string_view folded);

}  // namespace jarvis
