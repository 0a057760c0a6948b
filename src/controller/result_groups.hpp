// Folding identical results, as ClusterShell's clubak -b does: the nodes of a Command grouped by identical
// (phase, reason, exit code, output), each group's node set in compact range form (common/node_ranges.hpp)
// and its output once, largest group first. Bounded so the status stays small at any fleet size: at most
// kMaxResultGroups groups, then one `others` entry with the count and names of every node left.
//
// Pure: the groups are recomputed from the node entries (their output hashes) on every status change, so they
// are always exact; a group's output text comes from this plan's fresh results, the previous groups, or a
// member node's own output entry (whichever has it; big fleets keep no output per node).
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "controller/command_status.hpp"

namespace jarvis::controller {

inline constexpr std::size_t kMaxResultGroups = 20;
inline constexpr std::size_t kGroupOutputBytes = 4 * 1024;      // output kept per group
inline constexpr std::size_t kGroupNodesBytes = 4 * 1024;       // folded node names kept per group

// The key nodes are folded on: 16 hex digits of FNV-1a 64 of the output; empty for no output.
std::string output_hash(std::string_view output);

// Output texts of results delivered in this plan, by output hash (valid UTF-8, not yet cut).
using FreshOutputs = std::map<std::string, std::string>;

std::vector<ResultGroup> fold_results(const std::vector<NodeStatus>& nodes, const std::vector<ResultGroup>& previous,
                                      const FreshOutputs& fresh, std::size_t max_groups = kMaxResultGroups);

// The groups as text, clubak-style, at most `max_bytes` (whole groups first, then a line saying how many
// groups were left out):
//   kind-worker[2-9] (8): Succeeded, exit code 0
//   <output, indented>
std::string groups_text(const std::vector<ResultGroup>& groups, std::size_t max_bytes);

}  // namespace jarvis::controller
