// The rollout window and the failure budget as numbers: what spec.maxConcurrency and spec.maxFailures mean for
// a Command targeting N nodes. Pure arithmetic; plan.cpp applies it to the status.
//
//   maxConcurrency: a count, or a percentage of N rounded up; never less than 1; unset = N (all at once).
//   maxFailures:    a count, or a percentage of N rounded down; unset = no limit. The budget is exceeded when
//                   the number of failed nodes is GREATER than it: maxFailures 0 stops after the first failure,
//                   maxFailures 2 tolerates two failures and stops on the third. Once exceeded, no node is
//                   started any more: nodes already running finish, nodes not started are Skipped.
#pragma once

#include <optional>

#include "controller/command_spec.hpp"

namespace jarvis::controller {

// How many of `targeted` nodes may run at once (at least 1).
int window_size(const std::optional<CountOrPercent>& max_concurrency, int targeted);

// How many failures are tolerated; nullopt = no limit.
std::optional<int> failure_budget(const std::optional<CountOrPercent>& max_failures, int targeted);

// failed > budget ("exceeds", not "reaches").
bool budget_exceeded(const std::optional<int>& budget, int failed);

// "2", "25% = 3 of 10": how a budget or window was computed, for messages.
std::string describe_limit(const std::optional<CountOrPercent>& limit, int resolved);

}  // namespace jarvis::controller
