#include "controller/rollout.hpp"

#include <algorithm>
#include <string>

namespace jarvis::controller {

int window_size(const std::optional<CountOrPercent>& c, int targeted) {
  std::int64_t n = targeted;
  if (c && c->percent) n = (static_cast<std::int64_t>(targeted) * c->value + 99) / 100;  // rounded up
  else if (c) n = c->value;
  return static_cast<int>(std::clamp<std::int64_t>(n, 1, std::max(targeted, 1)));
}

std::optional<int> failure_budget(const std::optional<CountOrPercent>& f, int targeted) {
  if (!f) return std::nullopt;
  if (f->percent) return static_cast<int>(static_cast<std::int64_t>(targeted) * f->value / 100);  // rounded down
  return static_cast<int>(std::min<std::int64_t>(f->value, targeted));
}

bool budget_exceeded(const std::optional<int>& budget, int failed) { return budget && failed > *budget; }

std::string describe_limit(const std::optional<CountOrPercent>& limit, int resolved) {
  if (limit && limit->percent) return std::to_string(limit->value) + "% = " + std::to_string(resolved);
  return std::to_string(resolved);
}

}  // namespace jarvis::controller
