#include "agent/process_identity.hpp"

#include <signal.h>

#include <charconv>
#include <fstream>
#include <iterator>
#include <sstream>

namespace jarvis::agent {

namespace {

std::optional<std::string> read_small_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return std::nullopt;
  return text;
}

std::optional<std::string> boot_id() {
  auto text = read_small_file("/proc/sys/kernel/random/boot_id");
  if (!text) return std::nullopt;
  while (!text->empty() && (text->back() == '\n' || text->back() == ' ')) text->pop_back();
  return text;
}

// Field 22 (starttime). The command name (field 2) is in parentheses and may hold spaces and parentheses,
// so the fields are counted from the last ')'.
std::optional<std::uint64_t> start_ticks(pid_t pid) {
  const auto stat = read_small_file("/proc/" + std::to_string(pid) + "/stat");
  if (!stat) return std::nullopt;
  const auto name_end = stat->rfind(')');
  if (name_end == std::string::npos) return std::nullopt;
  std::istringstream fields(stat->substr(name_end + 1));
  std::string field;
  for (int number = 3; number <= 22; ++number)
    if (!(fields >> field)) return std::nullopt;
  std::uint64_t ticks = 0;
  const auto [end, ec] = std::from_chars(field.data(), field.data() + field.size(), ticks);
  if (ec != std::errc() || end != field.data() + field.size()) return std::nullopt;
  return ticks;
}

}  // namespace

std::optional<ProcessIdentity> identify_process(pid_t pid) {
  if (pid <= 0) return std::nullopt;
  const auto ticks = start_ticks(pid);
  auto boot = boot_id();
  if (!ticks || !boot) return std::nullopt;
  return ProcessIdentity{.pid = pid, .start_ticks = *ticks, .boot_id = std::move(*boot)};
}

bool kill_group_if_still_running(const ProcessIdentity& leader) {
  const auto now = identify_process(leader.pid);
  if (!now || now->start_ticks != leader.start_ticks || now->boot_id != leader.boot_id) return false;
  return ::kill(-leader.pid, SIGKILL) == 0;
}

}  // namespace jarvis::agent
