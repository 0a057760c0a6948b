// The standard process_* metrics of the Prometheus client libraries (client_golang's process collector), read
// from /proc/self at every scrape: process_start_time_seconds, process_cpu_seconds_total,
// process_resident_memory_bytes, process_virtual_memory_bytes, process_open_fds, process_max_fds.
#pragma once

#include <optional>

#include "metrics/registry.hpp"

namespace jarvis::metrics {

// Registers the families and a collector that refreshes them on `registry` (which must outlive nothing else:
// the collector only touches families of the same registry).
void register_process_metrics(Registry& registry);

// Values of /proc/<pid>/stat as the collector reads them, public for the tests. nullopt when unreadable.
struct ProcessStat {
  double cpu_seconds = 0;       // utime + stime
  double start_time_seconds = 0;  // since the epoch
  double virtual_bytes = 0;
  double resident_bytes = 0;
};
std::optional<ProcessStat> read_process_stat();

}  // namespace jarvis::metrics
