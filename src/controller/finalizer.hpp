// The finalizer protocol, in one place (as kube-rs's `finalizer` helper keeps it). Guarantees:
// - nothing runs for a Command before it carries kFinalizer, so its deletion always passes through us;
// - a Command being deleted gets its cleanup (cancel what still runs) before the finalizer is removed;
// - removing the finalizer is the last thing done for a Command; after it, nothing is written for it.
// No finalizer can be added once deletion started (the API server refuses it), hence `released`.
#pragma once

#include "controller/command_spec.hpp"

namespace jarvis::controller {

inline constexpr std::string_view kFinalizer = "jarvis.io/finalizer";

enum class FinalizerStage {
  add,       // not being deleted, no finalizer yet: add it, do nothing else in this pass
  apply,     // not being deleted, finalizer present: reconcile normally
  cleanup,   // being deleted, finalizer present: clean up, then remove the finalizer
  released,  // being deleted, finalizer gone: nothing left to do
};

inline FinalizerStage finalizer_stage(const CommandMeta& meta) {
  const bool ours = meta.has_finalizer(kFinalizer);
  if (meta.being_deleted) return ours ? FinalizerStage::cleanup : FinalizerStage::released;
  return ours ? FinalizerStage::apply : FinalizerStage::add;
}

}  // namespace jarvis::controller
