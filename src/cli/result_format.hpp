// The results of a finished (or followed) Command as text: folded like `clubak -b` (a header with the node
// set and the count, then the output once), one `node: line` per output line, or a one-line summary.
#pragma once

#include <string>
#include <vector>

#include "cli/command_view.hpp"

namespace jarvis::cli {

// Nodes folded by identical (phase, reason unless exited, exit code, output): largest group first, then by
// first node name; a group's node names in compact range form (common/node_ranges: kind-worker[2-5,7]).
std::vector<ResultGroup> fold_nodes(const std::vector<NodeResult>& nodes);

// The groups to show: status.groups when the controller wrote them, else fold_nodes(view.nodes).
std::vector<ResultGroup> result_groups(const CommandView& view);

// "Failed, exit code 3", "Failed, TimedOut", "Skipped"; "" for a plain success (exit 0).
std::string describe_outcome(const std::string& phase, std::optional<int> exit_code, const std::string& reason = {});

//   ---------------
//   kind-worker,kind-worker2 (2)
//   ---------------
//   output
// and for a group that did not succeed, the header says how: `kind-worker (1) Failed, exit code 3`.
std::string format_folded(const CommandView& view);

// `node: line` for every output line of every node (in status order); a node that did not succeed and printed
// nothing gets one `node: [Failed, exit code 3]` line.
std::string format_lines(const CommandView& view);

// "jarvis/run-x7k2p: Succeeded on 3 of 3 nodes" or "jarvis/run-x7k2p: Failed: 1 failed (kind-worker),
// 2 succeeded of 3 nodes".
std::string format_summary(const CommandView& view);

}  // namespace jarvis::cli
