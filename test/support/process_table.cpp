#include "support/process_table.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <sstream>
#include <string>

namespace jarvis::test {

namespace {

struct ProcessStat {
  char state;
  pid_t parent;
  pid_t process_group;
};

std::optional<ProcessStat> read_stat(const std::filesystem::path& dir) {
  std::ifstream in(dir / "stat");
  std::string line;
  if (!std::getline(in, line)) return std::nullopt;
  // The command name may hold spaces and parentheses; the fields after its last ')' are fixed.
  const auto close = line.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream fields(line.substr(close + 1));
  ProcessStat stat{};
  if (!(fields >> stat.state >> stat.parent >> stat.process_group)) return std::nullopt;
  return stat;
}

bool alive(const ProcessStat& stat) { return stat.state != 'Z' && stat.state != 'X'; }

template <typename Predicate>
std::vector<pid_t> processes_where(Predicate matches) {
  std::vector<pid_t> found;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    const auto stat = read_stat(entry.path());
    if (stat && matches(entry.path(), *stat)) found.push_back(std::atoi(name.c_str()));
  }
  return found;
}

}  // namespace

std::vector<pid_t> live_processes_in_group(pid_t process_group) {
  return processes_where([&](const std::filesystem::path&, const ProcessStat& stat) {
    return alive(stat) && stat.process_group == process_group;
  });
}

pid_t parent_of(pid_t pid) {
  const auto stat = read_stat("/proc/" + std::to_string(pid));
  return stat ? stat->parent : 0;
}

std::vector<pid_t> zombie_children_of(pid_t parent) {
  return processes_where(
      [&](const std::filesystem::path&, const ProcessStat& stat) { return stat.state == 'Z' && stat.parent == parent; });
}

std::vector<pid_t> live_processes_with_environment(std::string_view entry) {
  return processes_where([&](const std::filesystem::path& dir, const ProcessStat& stat) {
    if (!alive(stat)) return false;
    std::ifstream in(dir / "environ", std::ios::binary);
    const std::string environment((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::size_t start = 0;
    while (start < environment.size()) {
      const auto end = environment.find('\0', start);
      const std::string_view item =
          std::string_view(environment).substr(start, end == std::string::npos ? std::string::npos : end - start);
      if (item == entry) return true;
      if (end == std::string::npos) break;
      start = end + 1;
    }
    return false;
  });
}

}  // namespace jarvis::test
