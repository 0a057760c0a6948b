#include "controller/result_groups.hpp"

#include <algorithm>
#include <cstdio>
#include <tuple>

#include "common/hash.hpp"
#include "common/node_ranges.hpp"
#include "common/utf8.hpp"

namespace jarvis::controller {
namespace {

using Key = std::tuple<std::string, std::string, int, bool, std::string>;  // phase, reason, exit, has exit, hash

// The compact status form leaves out the reason of succeeded and waiting nodes: it can only be these.
std::string reason_of(const NodeStatus& n) {
  if (n.phase == Phase::succeeded) return std::string(reason::exited);
  if (n.phase == Phase::pending) return std::string(reason::queued);
  return n.reason;
}

Key key_of(const NodeStatus& n) {
  return {std::string(to_string(n.phase)), reason_of(n), n.exit_code.value_or(0), n.exit_code.has_value(),
          n.output_hash};
}

Key key_of(const ResultGroup& g) { return {g.phase, g.reason, g.exit_code.value_or(0), g.exit_code.has_value(), g.output_hash}; }

struct Building {
  Key key;
  std::vector<std::string> names;
  std::size_t previous_rank;  // where the previous status had it (keeps ties stable)
  const NodeStatus* first = nullptr;
};

std::string trim_trailing_newlines(std::string_view s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.remove_suffix(1);
  return std::string(s);
}

}  // namespace

std::string output_hash(std::string_view output) {
  if (output.empty()) return {};
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(fnv1a64(output)));
  return buf;
}

std::vector<ResultGroup> fold_results(const std::vector<NodeStatus>& nodes, const std::vector<ResultGroup>& previous,
                                      const FreshOutputs& fresh, std::size_t max_groups) {
  std::map<Key, std::size_t> rank;
  for (std::size_t i = 0; i < previous.size(); ++i)
    if (!previous[i].others) rank.emplace(key_of(previous[i]), i);
  std::map<Key, Building> building;
  for (const auto& n : nodes) {
    const Key k = key_of(n);
    auto [it, added] = building.try_emplace(k, Building{k, {}, previous.size(), &n});
    if (added) {
      if (auto r = rank.find(k); r != rank.end()) it->second.previous_rank = r->second;
    }
    it->second.names.push_back(n.name);
  }
  std::vector<Building*> order;
  for (auto& [k, b] : building) order.push_back(&b);
  std::sort(order.begin(), order.end(), [](const Building* a, const Building* b) {
    if (a->names.size() != b->names.size()) return a->names.size() > b->names.size();
    if (a->previous_rank != b->previous_rank) return a->previous_rank < b->previous_rank;
    return natural_less(a->first->name, b->first->name);
  });
  // With one group too many for the bound, the others entry would stand for a single group: show it instead.
  const std::size_t shown = order.size() <= max_groups + 1 ? order.size() : max_groups;
  std::vector<ResultGroup> groups;
  for (std::size_t i = 0; i < shown; ++i) {
    const Building& b = *order[i];
    ResultGroup g;
    g.count = static_cast<int>(b.names.size());
    g.nodes = fold_node_names(b.names, kGroupNodesBytes);
    g.phase = std::get<0>(b.key);
    g.reason = std::get<1>(b.key);
    if (std::get<3>(b.key)) g.exit_code = std::get<2>(b.key);
    g.output_hash = std::get<4>(b.key);
    if (!g.output_hash.empty()) {
      if (auto f = fresh.find(g.output_hash); f != fresh.end()) {
        g.output = std::string(utf8_prefix(f->second, kGroupOutputBytes));
      } else if (auto r = rank.find(b.key); r != rank.end()) {
        g.output = previous[r->second].output;
      }
      if (g.output.empty()) {
        for (const auto& n : nodes)
          if (key_of(n) == b.key && !n.output.empty()) {
            g.output = n.output;
            break;
          }
      }
    }
    groups.push_back(std::move(g));
  }
  if (shown < order.size()) {
    ResultGroup others;
    others.others = true;
    std::vector<std::string> names;
    for (std::size_t i = shown; i < order.size(); ++i)
      names.insert(names.end(), order[i]->names.begin(), order[i]->names.end());
    others.count = static_cast<int>(names.size());
    others.nodes = fold_node_names(std::move(names), kGroupNodesBytes);
    groups.push_back(std::move(others));
  }
  return groups;
}

std::string groups_text(const std::vector<ResultGroup>& groups, std::size_t max_bytes) {
  std::string out;
  std::size_t written = 0;
  for (const auto& g : groups) {
    std::string text = g.nodes + " (" + std::to_string(g.count) + ")";
    if (g.others) {
      text += ": other results, see status.nodes";
    } else {
      text += ": " + g.phase;
      if (!g.reason.empty() && g.reason != "Exited") text += " (" + g.reason + ")";
      if (g.exit_code) text += ", exit code " + std::to_string(*g.exit_code);
      const std::string output = trim_trailing_newlines(g.output);
      if (!output.empty()) {
        std::string indented = "\n  ";
        for (const char c : output) indented += c == '\n' ? std::string("\n  ") : std::string(1, c);
        text += indented;
      }
    }
    text += "\n";
    const std::size_t left = groups.size() - written - 1;
    const std::string more = left ? "[jarvis: " + std::to_string(left) + " more group(s) omitted]\n" : "";
    if (out.size() + text.size() + more.size() > max_bytes) {
      // The group's header line alone, when its output does not fit.
      const std::string header = text.substr(0, text.find('\n')) + " [output omitted]\n";
      if (out.size() + header.size() + more.size() + 40 > max_bytes) break;
      text = header;
    }
    out += text;
    ++written;
  }
  if (written < groups.size())
    out += "[jarvis: " + std::to_string(groups.size() - written) + " more group(s) omitted]\n";
  return trim_trailing_newlines(out);
}

}  // namespace jarvis::controller
