#include "metrics/process_metrics.hpp"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>

namespace jarvis::metrics {

namespace {

// The boot time (btime of /proc/stat), in seconds since the epoch.
std::optional<double> boot_time() {
  std::ifstream in("/proc/stat");
  std::string word;
  while (in >> word) {
    if (word == "btime") {
      double t = 0;
      if (in >> t) return t;
      return std::nullopt;
    }
  }
  return std::nullopt;
}

double open_fds() {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return 0;
  double count = 0;
  while (const dirent* entry = readdir(dir)) {
    if (entry->d_name[0] != '.') ++count;
  }
  closedir(dir);
  return count - 1;  // the directory's own descriptor, open while it is read
}

}  // namespace

std::optional<ProcessStat> read_process_stat() {
  std::ifstream in("/proc/self/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // The second field (comm) is in parentheses and may hold spaces: fields are counted after its last ')'.
  const auto close = text.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream fields(text.substr(close + 2));
  // Fields from 3 (state) on; we need utime (14), stime (15), starttime (22), vsize (23), rss (24).
  std::string field;
  double utime = 0, stime = 0, start = 0, vsize = 0, rss = 0;
  for (int n = 3; n <= 24 && fields >> field; ++n) {
    if (n == 14) utime = std::stod(field);
    if (n == 15) stime = std::stod(field);
    if (n == 22) start = std::stod(field);
    if (n == 23) vsize = std::stod(field);
    if (n == 24) rss = std::stod(field);
  }
  if (!fields) return std::nullopt;
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  const auto boot = boot_time();
  if (!boot || ticks <= 0) return std::nullopt;
  ProcessStat s;
  s.cpu_seconds = (utime + stime) / ticks;
  s.start_time_seconds = *boot + start / ticks;
  s.virtual_bytes = vsize;
  s.resident_bytes = rss * static_cast<double>(sysconf(_SC_PAGESIZE));
  return s;
}

void register_process_metrics(Registry& r) {
  auto& start = r.gauge("process_start_time_seconds", "Start time of the process since unix epoch in seconds.")
                    .with({});
  auto& cpu = r.counter("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.").with({});
  auto& resident = r.gauge("process_resident_memory_bytes", "Resident memory size in bytes.").with({});
  auto& virtual_memory = r.gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.").with({});
  auto& fds = r.gauge("process_open_fds", "Number of open file descriptors.").with({});
  auto& max_fds = r.gauge("process_max_fds", "Maximum number of open file descriptors.").with({});
  // The counter only goes up: it is raised by the CPU time used since the previous scrape.
  struct Previous {
    std::mutex mu;
    double cpu = 0;
  };
  auto previous = std::make_shared<Previous>();
  r.add_collector([start = &start, cpu = &cpu, resident = &resident, virtual_memory = &virtual_memory, fds = &fds,
                   max_fds = &max_fds, previous] {
    if (const auto stat = read_process_stat()) {
      start->set(stat->start_time_seconds);
      resident->set(stat->resident_bytes);
      virtual_memory->set(stat->virtual_bytes);
      std::lock_guard lock(previous->mu);
      if (stat->cpu_seconds > previous->cpu) {
        cpu->inc(stat->cpu_seconds - previous->cpu);
        previous->cpu = stat->cpu_seconds;
      }
    }
    fds->set(open_fds());
    rlimit limit{};
    if (getrlimit(RLIMIT_NOFILE, &limit) == 0) max_fds->set(static_cast<double>(limit.rlim_cur));
  });
}

}  // namespace jarvis::metrics
