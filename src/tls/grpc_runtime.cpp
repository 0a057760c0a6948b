#include "tls/grpc_runtime.hpp"

#include <absl/synchronization/mutex.h>

namespace jarvis::tls {

void configure_grpc_runtime() { absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore); }

}  // namespace jarvis::tls
