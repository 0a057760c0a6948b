// Process-wide settings of the gRPC runtime, made once by main before any channel or server exists.
#pragma once

namespace jarvis::tls {

// Debian 12 builds abseil without NDEBUG, so every absl::Mutex (gRPC's locks) feeds absl's deadlock
// detector: a graph of lock orders updated on every acquisition. It is a debugging aid, and it cost 8.5% of
// the controller's CPU in a 1,000-node run (bench/), so it is turned off.
void configure_grpc_runtime();

}  // namespace jarvis::tls
