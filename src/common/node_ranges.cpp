#include "common/node_ranges.hpp"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <map>
#include <optional>
#include <tuple>

namespace jarvis {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Numbers of more digits than this are kept as text (they would not fit in 64 bits).
constexpr std::size_t kMaxDigits = 18;

std::size_t digit_run_end(std::string_view s, std::size_t from) {
  while (from < s.size() && is_digit(s[from])) ++from;
  return from;
}

// A name split around its last run of digits: prefix, number, suffix; pad is the run's width when it starts
// with a zero (and has more than one digit), else 0.
struct Pattern {
  std::string prefix;
  std::string suffix;
  std::size_t pad = 0;
  auto key() const { return std::tie(prefix, suffix, pad); }
};

struct Split {
  Pattern pattern;
  std::uint64_t number = 0;
};

std::optional<Split> split(const std::string& name) {
  std::size_t end = name.size();
  while (end > 0 && !is_digit(name[end - 1])) --end;
  if (end == 0) return std::nullopt;
  std::size_t begin = end;
  while (begin > 0 && is_digit(name[begin - 1])) --begin;
  const std::size_t width = end - begin;
  if (width > kMaxDigits) return std::nullopt;
  Split s;
  s.pattern.prefix = name.substr(0, begin);
  s.pattern.suffix = name.substr(end);
  s.pattern.pad = name[begin] == '0' && width > 1 ? width : 0;
  s.number = std::stoull(name.substr(begin, width));
  return s;
}

std::string number_text(std::uint64_t n, std::size_t pad) {
  std::string digits = std::to_string(n);
  if (digits.size() < pad) digits.insert(0, pad - digits.size(), '0');
  return digits;
}

// One piece of the folded form: a literal name, or a pattern with its numbers as ascending ranges.
struct Piece {
  std::string literal;
  Pattern pattern;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> ranges;
  bool is_literal() const { return ranges.empty(); }
};

std::string range_text(const std::pair<std::uint64_t, std::uint64_t>& r, std::size_t pad) {
  if (r.first == r.second) return number_text(r.first, pad);
  return number_text(r.first, pad) + "-" + number_text(r.second, pad);
}

std::uint64_t range_size(const std::pair<std::uint64_t, std::uint64_t>& r) { return r.second - r.first + 1; }

std::vector<Piece> pieces_of(std::vector<std::string> names) {
  std::sort(names.begin(), names.end(), [](const auto& a, const auto& b) { return natural_less(a, b); });
  names.erase(std::unique(names.begin(), names.end()), names.end());
  std::vector<Piece> pieces;
  std::vector<std::vector<std::uint64_t>> numbers;
  std::map<std::tuple<std::string, std::string, std::size_t>, std::size_t> by_pattern;
  for (const auto& name : names) {
    auto s = split(name);
    if (!s) {
      pieces.push_back(Piece{name, {}, {}});
      numbers.emplace_back();
      continue;
    }
    const auto key = std::make_tuple(s->pattern.prefix, s->pattern.suffix, s->pattern.pad);
    auto [it, added] = by_pattern.emplace(key, pieces.size());
    if (added) {
      pieces.push_back(Piece{name, s->pattern, {}});
      numbers.emplace_back();
    }
    numbers[it->second].push_back(s->number);
  }
  for (std::size_t i = 0; i < pieces.size(); ++i) {
    auto& n = numbers[i];
    if (n.size() <= 1) continue;  // alone in its pattern: stays a literal name
    std::sort(n.begin(), n.end());
    n.erase(std::unique(n.begin(), n.end()), n.end());
    for (const auto v : n) {
      if (!pieces[i].ranges.empty() && pieces[i].ranges.back().second + 1 == v) pieces[i].ranges.back().second = v;
      else pieces[i].ranges.emplace_back(v, v);
    }
    if (pieces[i].ranges.size() == 1 && range_size(pieces[i].ranges[0]) == 1) pieces[i].ranges.clear();
  }
  return pieces;
}

std::string piece_text(const Piece& p, std::size_t ranges) {
  if (p.is_literal()) return p.literal;
  std::string out = p.pattern.prefix + "[";
  for (std::size_t i = 0; i < ranges; ++i) out += (i ? "," : "") + range_text(p.ranges[i], p.pattern.pad);
  return out + "]" + p.pattern.suffix;
}

std::uint64_t piece_size(const Piece& p) {
  if (p.is_literal()) return 1;
  std::uint64_t n = 0;
  for (const auto& r : p.ranges) n += range_size(r);
  return n;
}

}  // namespace

bool natural_less(std::string_view a, std::string_view b) {
  std::size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    if (is_digit(a[i]) && is_digit(b[j])) {
      const std::size_t ie = digit_run_end(a, i), je = digit_run_end(b, j);
      std::size_t ia = i, jb = j;
      while (ia + 1 < ie && a[ia] == '0') ++ia;  // leading zeros do not change the number
      while (jb + 1 < je && b[jb] == '0') ++jb;
      const std::string_view na = a.substr(ia, ie - ia), nb = b.substr(jb, je - jb);
      if (na.size() != nb.size()) return na.size() < nb.size();
      if (na != nb) return na < nb;
      if (ie - i != je - j) return ie - i < je - j;  // same number: fewer leading zeros first
      i = ie;
      j = je;
      continue;
    }
    if (a[i] != b[j]) return static_cast<unsigned char>(a[i]) < static_cast<unsigned char>(b[j]);
    ++i;
    ++j;
  }
  return a.size() - i < b.size() - j;
}

std::string fold_node_names(std::vector<std::string> names) {
  std::string out;
  for (const auto& p : pieces_of(std::move(names))) {
    if (!out.empty()) out += ',';
    out += piece_text(p, p.ranges.size());
  }
  return out;
}

std::string fold_node_names(std::vector<std::string> names, std::size_t max_bytes) {
  const auto pieces = pieces_of(std::move(names));
  std::uint64_t total = 0;
  for (const auto& p : pieces) total += piece_size(p);
  std::string out;
  std::uint64_t written = 0;
  const auto tail = [&](std::uint64_t left) { return ",... (+" + std::to_string(left) + " more)"; };
  for (const auto& p : pieces) {
    const std::string sep = out.empty() ? "" : ",";
    const std::string whole = piece_text(p, p.ranges.size());
    const std::uint64_t after = written + piece_size(p);
    const std::size_t reserve = after == total ? 0 : tail(total - after).size();
    if (out.size() + sep.size() + whole.size() + reserve <= max_bytes) {
      out += sep + whole;
      written = after;
      continue;
    }
    // Part of a bracket: as many of its ranges as fit.
    for (std::size_t k = p.is_literal() ? 0 : p.ranges.size() - 1; k > 0; --k) {
      std::uint64_t in = 0;
      for (std::size_t r = 0; r < k; ++r) in += range_size(p.ranges[r]);
      const std::string part = piece_text(p, k);
      if (out.size() + sep.size() + part.size() + tail(total - written - in).size() <= max_bytes) {
        out += sep + part;
        written += in;
        break;
      }
    }
    break;
  }
  if (written < total) out += (out.empty() ? tail(total - written).substr(1) : tail(total - written));
  return out;
}

std::vector<std::string> unfold_node_names(std::string_view folded) {
  std::vector<std::string> names;
  std::size_t pos = 0;
  while (pos < folded.size()) {
    // One top-level token: up to a comma outside brackets.
    std::size_t end = pos;
    int depth = 0;
    while (end < folded.size() && (depth > 0 || folded[end] != ',')) {
      if (folded[end] == '[') ++depth;
      if (folded[end] == ']') --depth;
      ++end;
    }
    const std::string_view token = folded.substr(pos, end - pos);
    pos = end + 1;
    if (token.empty() || token.substr(0, 3) == "...") continue;
    const auto open = token.find('['), close = token.rfind(']');
    if (open == std::string_view::npos || close == std::string_view::npos || close < open) {
      names.emplace_back(token);
      continue;
    }
    const std::string prefix(token.substr(0, open)), suffix(token.substr(close + 1));
    std::string_view inside = token.substr(open + 1, close - open - 1);
    while (!inside.empty()) {
      const auto comma = inside.find(',');
      const std::string_view range = inside.substr(0, comma);
      inside = comma == std::string_view::npos ? std::string_view{} : inside.substr(comma + 1);
      const auto dash = range.find('-');
      const std::string first(range.substr(0, dash));
      const std::string last(dash == std::string_view::npos ? first : std::string(range.substr(dash + 1)));
      if (first.empty() || last.empty() || first.size() > kMaxDigits || last.size() > kMaxDigits ||
          !std::all_of(first.begin(), first.end(), is_digit) || !std::all_of(last.begin(), last.end(), is_digit)) {
        names.push_back(prefix + std::string(range) + suffix);
        continue;
      }
      const std::size_t pad = first[0] == '0' && first.size() > 1 ? first.size() : 0;
      for (std::uint64_t v = std::stoull(first), to = std::stoull(last); v <= to; ++v)
        names.push_back(prefix + number_text(v, pad) + suffix);
    }
  }
  std::sort(names.begin(), names.end(), [](const auto& a, const auto& b) { return natural_less(a, b); });
  names.erase(std::unique(names.begin(), names.end()), names.end());
  return names;
}

}  // namespace jarvis
