// The list-then-watch state machine that feeds an ObjectStore, free of any I/O so that tests replay
// synthetic lists and events through it.
//
//   empty ──list──▶ listed(rv) ──watch opened──▶ watching(rv) ──event/bookmark──▶ watching(rv')
//     ▲                 ▲                              │
//     │                 └──── stream ended/failed ─────┤   (resume watching from the last rv)
//     └──────────── 410 Expired (ERROR event or HTTP 410) ─┘   (relist)
//
// No event is lost: a watch from rv delivers every change after rv, the rv advances only with an applied event
// or a BOOKMARK, and a resumed watch starts from it; when the server no longer has that history (410) a full
// list replaces the store and reports vanished keys as deletions.
// No event is applied twice: a resumed watch starts strictly after the last applied rv, so the server does
// not repeat events. As a guard against a server that does (e.g. replaying after a watch-cache reinit), an
// ADDED/MODIFIED whose object has the exact resourceVersion already stored, and a DELETED of an absent key,
// change nothing and notify nobody. resourceVersions are compared for equality only: the API makes no
// promise about their order.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "kube/object_store.hpp"
#include "kube/watch_event.hpp"

namespace jarvis::kube {

enum class ReflectorPhase { empty, listed, watching };

std::string_view to_string(ReflectorPhase phase);

// What the informer does after an event.
enum class AfterEvent { keep_watching, relist };

class Reflector {
 public:
  ReflectorPhase phase() const { return phase_; }
  // The resourceVersion to watch from (listed/watching); "" when empty.
  const std::string& resource_version() const { return resource_version_; }
  const ObjectStore& store() const { return store_; }

  // A complete list replaces the store: empty|listed|watching → listed(rv). Returns every listed key and
  // every key that vanished, in key order. Objects without a name are skipped.
  std::vector<std::string> on_list(std::vector<Object> objects, std::string resource_version);

  // listed(rv) → watching(rv).
  void on_watch_started();

  // Applies one watch event. `changed` receives the key whose object changed. ERROR with 410 Expired →
  // empty and AfterEvent::relist; any other ERROR or a malformed event is an Error (the caller ends the
  // stream and resumes from the last good rv).
  Result<AfterEvent> on_event(const WatchEvent& event, std::vector<std::string>& changed);

  // watching(rv) → listed(rv): the stream ended or broke; watch again from rv.
  void on_stream_ended();

  // The server answered 410 to a watch request: → empty.
  void on_expired();

 private:
  ReflectorPhase phase_ = ReflectorPhase::empty;
  std::string resource_version_;
  ObjectStore store_;
};

}  // namespace jarvis::kube
