#include "cli/result_format.hpp"

#include <algorithm>
#include <map>
#include <tuple>

#include "common/node_ranges.hpp"

namespace jarvis::cli {

namespace {

constexpr std::string_view kRule = "---------------\n";

std::string with_newline(std::string text) {
  if (!text.empty() && text.back() != '\n') text += '\n';
  return text;
}

// A node's reason only matters when it did not simply exit (exit code or signal tell the rest).
std::string outcome_reason(const NodeResult& n) { return n.reason == "Exited" ? std::string{} : n.reason; }

}  // namespace

std::string describe_outcome(const std::string& phase, std::optional<int> exit_code, const std::string& reason) {
  if (phase == "Succeeded" && exit_code.value_or(0) == 0) return {};
  std::string text = phase.empty() ? "Pending" : phase;
  if (!reason.empty() && reason != "Exited") text += ", " + reason;
  if (exit_code && !(phase == "Succeeded" && *exit_code == 0)) text += ", exit code " + std::to_string(*exit_code);
  return text;
}

std::vector<ResultGroup> fold_nodes(const std::vector<NodeResult>& nodes) {
  using Key = std::tuple<std::string, std::string, std::optional<int>, std::string>;
  std::map<Key, std::size_t> index;
  std::vector<ResultGroup> groups;
  std::vector<std::string> reasons;
  std::vector<std::vector<std::string>> names;
  for (const NodeResult& n : nodes) {
    Key key{n.phase, outcome_reason(n), n.exit_code, n.output};
    auto [it, added] = index.emplace(key, groups.size());
    if (added) {
      groups.push_back(ResultGroup{{}, 0, n.phase, n.exit_code, n.output, false});
      reasons.push_back(outcome_reason(n));
      names.emplace_back();
    }
    names[it->second].push_back(n.name);
    ++groups[it->second].count;
  }
  // The reason travels in the phase text of the folded header ("Failed, TimedOut").
  for (std::size_t i = 0; i < groups.size(); ++i) {
    groups[i].nodes = fold_node_names(std::move(names[i]));
    if (!reasons[i].empty()) groups[i].phase += ", " + reasons[i];
  }
  std::stable_sort(groups.begin(), groups.end(),
                   [](const ResultGroup& a, const ResultGroup& b) { return a.count > b.count; });
  return groups;
}

std::vector<ResultGroup> result_groups(const CommandView& view) {
  if (!view.groups.empty()) return view.groups;
  return fold_nodes(view.nodes);
}

std::string format_folded(const CommandView& view) {
  std::string out;
  for (const ResultGroup& g : result_groups(view)) {
    out += kRule;
    out += g.nodes + " (" + std::to_string(g.count) + ")";
    if (std::string outcome = describe_outcome(g.phase, g.exit_code); !outcome.empty()) out += " " + outcome;
    if (g.others) out += " [more groups not kept in the status]";
    out += "\n";
    out += kRule;
    out += with_newline(g.output);
  }
  return out;
}

std::string format_lines(const CommandView& view) {
  std::string out;
  for (const NodeResult& n : view.nodes) {
    std::string_view rest = n.output;
    while (!rest.empty()) {
      auto nl = rest.find('\n');
      out += n.name + ": " + std::string(rest.substr(0, nl)) + "\n";
      if (nl == std::string_view::npos) break;
      rest.remove_prefix(nl + 1);
    }
    std::string outcome = describe_outcome(n.phase, n.exit_code, n.reason);
    if (!outcome.empty() && n.output.empty()) out += n.name + ": [" + outcome + "]\n";
  }
  return out;
}

std::string format_summary(const CommandView& view) {
  std::string out = view.ns + "/" + view.name + ": ";
  if (view.all_succeeded()) {
    return out + "Succeeded on " + std::to_string(view.succeeded) + " of " + std::to_string(view.targeted) + " node(s)";
  }
  out += view.phase.empty() ? std::string("Pending") : view.phase;
  std::vector<std::string> parts;
  auto names = [&](std::string_view phase) {
    std::string list;
    int shown = 0, total = 0;
    for (const auto& n : view.nodes) {
      if (n.phase != phase) continue;
      if (++total <= 10) list += (shown++ ? "," : "") + n.name;
    }
    if (total > 10) list += ",... (" + std::to_string(total - 10) + " more)";
    return list;
  };
  if (view.failed) parts.push_back(std::to_string(view.failed) + " failed (" + names("Failed") + ")");
  if (view.skipped) parts.push_back(std::to_string(view.skipped) + " skipped (" + names("Skipped") + ")");
  if (view.succeeded) parts.push_back(std::to_string(view.succeeded) + " succeeded");
  if (view.running) parts.push_back(std::to_string(view.running) + " running");
  std::string joined;
  for (const auto& p : parts) joined += (joined.empty() ? "" : ", ") + p;
  out += (joined.empty() ? "" : ": " + joined) + " of " + std::to_string(view.targeted) + " node(s)";
  if (view.targeted == 0 && !view.message.empty()) out += " (" + view.message + ")";
  return out;
}

}  // namespace jarvis::cli
