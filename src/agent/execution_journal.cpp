#include "agent/execution_journal.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <system_error>
#include <utility>

#include "agent/execution_proto.hpp"
#include "agent/journal_frame.hpp"
#include "agent_journal.pb.h"
#include "common/time_format.hpp"

namespace jarvis::agent {

namespace {

namespace pb = jarvis::journal::v1;

constexpr const char* new_file_name = "journal.new";
constexpr std::size_t dropped_ranges_logged = 10;
constexpr std::string_view evicted_reason =
    "older records expired (--retain-finished, --retain-finished-for, --journal-max-bytes)";

Error os_error(int error) { return Error{std::strerror(error), error}; }

std::int64_t now_unix_ms() { return unix_ms(std::chrono::system_clock::now()); }

Status write_all_at(int fd, std::string_view bytes, std::uint64_t offset) {
  while (!bytes.empty()) {
    const ssize_t n = ::pwrite(fd, bytes.data(), bytes.size(), static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return os_error(n < 0 ? errno : EIO);
    bytes.remove_prefix(static_cast<std::size_t>(n));
    offset += static_cast<std::uint64_t>(n);
  }
  return Ok{};
}

// Reads until `bytes` are read or the file ends; an I/O error ends the read early too.
std::string read_at(int fd, std::uint64_t offset, std::uint64_t bytes, int& error) {
  std::string data(bytes, '\0');
  std::size_t done = 0;
  error = 0;
  while (done < bytes) {
    const ssize_t n = ::pread(fd, data.data() + done, bytes - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      error = n < 0 ? errno : 0;
      break;
    }
    done += static_cast<std::size_t>(n);
  }
  data.resize(done);
  return data;
}

Status sync_directory(int fd) {
  int rc;
  do {
    rc = ::fsync(fd);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) return os_error(errno);
  return Ok{};
}

std::string interrupted_reason(std::int64_t found_unix_ms) {
  return "the agent stopped while this execution ran (found interrupted at agent start " +
         rfc3339_from_unix_ms(found_unix_ms) + "); it may have run partly and is not started again";
}

}  // namespace

Status sync_file_data(int fd) {
  int rc;
  do {
    rc = ::fdatasync(fd);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) return os_error(errno);
  return Ok{};
}

struct ExecutionJournal::Loaded {
  std::string data;              // the file as it was read
  std::size_t records = 0;       // intact records
  std::vector<std::pair<std::uint64_t, std::uint64_t>> dropped;  // [from, to) byte ranges skipped
  std::uint64_t dropped_bytes = 0;
  int read_error = 0;            // errno of a read that ended early, else 0

  void drop(std::uint64_t from, std::uint64_t to) {
    dropped.emplace_back(from, to);
    dropped_bytes += to - from;
  }
};

ExecutionJournal::ExecutionJournal(std::filesystem::path state_dir, UniqueFd directory, std::uint64_t max_bytes,
                                   Logger& log, DataSync sync)
    : state_dir_(std::move(state_dir)),
      path_(state_dir_ / journal_file_name),
      directory_(std::move(directory)),
      max_bytes_(max_bytes),
      log_(log),
      sync_(std::move(sync)) {}

Result<std::unique_ptr<ExecutionJournal>> ExecutionJournal::open(const std::filesystem::path& state_dir,
                                                                 std::uint64_t max_bytes, Logger& log,
                                                                 DataSync sync) {
  std::error_code ignored;
  if (!std::filesystem::exists(state_dir, ignored)) {
    if (state_dir.has_parent_path()) std::filesystem::create_directories(state_dir.parent_path(), ignored);
    if (::mkdir(state_dir.c_str(), 0700) != 0 && errno != EEXIST)
      return Error{"cannot create the state directory " + state_dir.string() +
                       " (--state-dir, where the agent keeps its journal): " + std::strerror(errno),
                   errno};
  }
  const int directory = ::open(state_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (directory < 0)
    return Error{"cannot open the state directory " + state_dir.string() +
                     " (--state-dir, where the agent keeps its journal): " + std::strerror(errno),
                 errno};
  UniqueFd owned_directory(directory);
  // One agent per journal: a second one (an old pod still stopping) would interleave records with it.
  if (::flock(directory, LOCK_EX | LOCK_NB) != 0) {
    log.warn("waiting for another agent process to release the journal", {{"state_dir", state_dir.string()}});
    int rc;
    do {
      rc = ::flock(directory, LOCK_EX);
    } while (rc != 0 && errno == EINTR);
    if (rc != 0)
      return Error{"cannot lock the state directory " + state_dir.string() + " (--state-dir): " + std::strerror(errno),
                   errno};
  }
  std::unique_ptr<ExecutionJournal> journal(
      new ExecutionJournal(state_dir, std::move(owned_directory), max_bytes, log, std::move(sync)));
  // Left by a rewrite that did not finish; the journal itself is still whole.
  ::unlinkat(directory, new_file_name, 0);
  journal->load(now_unix_ms());
  return journal;
}

void ExecutionJournal::load(std::int64_t now) {
  Loaded loaded;
  int fd = ::openat(directory_.get(), std::string(journal_file_name).c_str(), O_RDWR | O_CLOEXEC);
  const bool writable = fd >= 0;
  if (fd < 0 && errno != ENOENT)
    fd = ::openat(directory_.get(), std::string(journal_file_name).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT) {
    advance_horizon(now, "journal created");
    log_.info("journal created", {{"journal", path_.string()}});
  } else if (fd < 0) {
    const int error = errno;
    advance_horizon(now, "the journal could not be read at agent start " + rfc3339_from_unix_ms(now));
    log_.error("cannot read the journal; starting a new one",
               {{"journal", path_.string()}, {"error", std::strerror(error)}});
  } else {
    file_ = UniqueFd(fd);
    struct stat info{};
    const std::uint64_t size = ::fstat(fd, &info) == 0 ? static_cast<std::uint64_t>(info.st_size) : 0;
    loaded.data = read_at(fd, 0, size, loaded.read_error);
    if (loaded.data.size() < size) loaded.drop(loaded.data.size(), size);

    const std::string_view data = loaded.data;
    std::size_t offset = 0;
    while (offset < data.size()) {
      const auto payload = decode_frame(data, offset);
      if (!payload) {
        const std::size_t next = next_intact_frame(data, offset);
        loaded.drop(offset, next);
        offset = next;
        continue;
      }
      const Frame frame{offset, frame_header_bytes + payload->size()};
      offset += frame.bytes;
      pb::Record record;
      if (!record.ParseFromArray(payload->data(), static_cast<int>(payload->size())) ||
          record.kind_case() == pb::Record::KIND_NOT_SET) {
        loaded.drop(frame.offset, frame.offset + frame.bytes);
        continue;
      }
      ++loaded.records;
      apply(record, frame);
    }
    file_bytes_ = data.size();
    needs_rewrite_ = !writable || !loaded.dropped.empty();
    if (horizon_.unix_ms == 0)
      advance_horizon(now, "the journal held no creation record at agent start " + rfc3339_from_unix_ms(now));
  }
  if (!loaded.dropped.empty()) {
    advance_horizon(now, "unreadable journal records were dropped at agent start " + rfc3339_from_unix_ms(now));
    std::string ranges;
    for (std::size_t i = 0; i < loaded.dropped.size() && i < dropped_ranges_logged; ++i)
      ranges += (i == 0 ? "" : ", ") + std::to_string(loaded.dropped[i].first) + "-" +
                std::to_string(loaded.dropped[i].second);
    log_.warn("journal records dropped: torn or corrupted bytes were skipped; every intact record is kept",
              {{"journal", path_.string()},
               {"intact_records", loaded.records},
               {"dropped_ranges", loaded.dropped.size()},
               {"dropped_bytes", loaded.dropped_bytes},
               {"dropped_offsets", ranges},
               {"read_error", loaded.read_error == 0 ? "" : std::strerror(loaded.read_error)},
               {"horizon_unix_ms", horizon_.unix_ms}});
  }
  recover(loaded, now);
}

void ExecutionJournal::apply(const pb::Record& record, Frame frame) {
  switch (record.kind_case()) {
    case pb::Record::kHorizon:
      advance_horizon(record.horizon().unix_ms(), record.horizon().reason());
      break;
    case pb::Record::kAccepted:
      set_entry(record.accepted().execution_id(),
                Entry::accepted(record.accepted().accepted_unix_ms(), frame));
      break;
    case pb::Record::kSpawned: {
      const auto& spawned = record.spawned();
      const auto entry = entries_.find(spawned.execution_id());
      if (entry == entries_.end() || entry->second.finished) break;
      entry->second.frames.push_back(frame);
      entry->second.shell =
          ProcessIdentity{.pid = spawned.pid(), .start_ticks = spawned.start_ticks(), .boot_id = spawned.boot_id()};
      live_bytes_ += frame.bytes;
      break;
    }
    case pb::Record::kFinished:
      set_entry(record.finished().execution().execution_id(),
                Entry::ended(record.finished().accepted_unix_ms(), frame));
      break;
    case pb::Record::kEvicted:
      for (const auto& id : record.evicted().execution_ids()) drop_entry(id);
      advance_horizon(record.evicted().horizon().unix_ms(), record.evicted().horizon().reason());
      break;
    case pb::Record::KIND_NOT_SET:
      break;
  }
}

// Every known execution becomes a RecoveredExecution; one accepted but never finished is interrupted and,
// once the file can be written, journaled as such.
void ExecutionJournal::recover(const Loaded& loaded, std::int64_t now) {
  std::vector<ExecutionStatus> interrupted;
  for (const auto& [id, entry] : entries_) {
    const Frame first = entry.frames.front();
    const auto payload = decode_frame(loaded.data, first.offset);
    pb::Record record;
    if (!payload || !record.ParseFromArray(payload->data(), static_cast<int>(payload->size()))) continue;
    if (entry.finished) {
      recovered_.push_back(RecoveredExecution{.status = from_proto(record.finished().execution()), .shell = {}});
      continue;
    }
    ExecutionStatus status;
    status.execution_id = id;
    status.command = record.accepted().command();
    status.state = ExecutionState::interrupted;
    status.start_time = from_unix_ms(entry.accepted_unix_ms);
    status.end_time = from_unix_ms(now);
    status.reason = interrupted_reason(now);
    recovered_.push_back(RecoveredExecution{.status = status, .shell = entry.shell});
    interrupted.push_back(std::move(status));
  }
  std::sort(recovered_.begin(), recovered_.end(), [](const RecoveredExecution& a, const RecoveredExecution& b) {
    return a.status.end_time < b.status.end_time;
  });

  if (needs_rewrite_) {
    if (auto rewritten = rewrite(); !rewritten)
      log_.error("cannot write the journal; every Start is refused until it can be written",
                 {{"journal", path_.string()}, {"error", rewritten.error().message}});
  }
  for (const auto& status : interrupted) {
    log_.warn("execution interrupted: the agent stopped while it ran; it is not started again",
              {{"execution_id", status.execution_id},
               {"command", status.command},
               {"accepted_unix_ms", unix_ms(status.start_time)}});
    if (auto recorded = record_finished(status); !recorded)
      log_.error("cannot journal an interrupted execution; it is reported interrupted again after the next restart",
                 {{"journal", path_.string()},
                  {"execution_id", status.execution_id},
                  {"error", recorded.error().message}});
  }
  log_.info("journal opened", {{"journal", path_.string()},
                               {"intact_records", loaded.records},
                               {"executions", recovered_.size()},
                               {"interrupted", interrupted.size()},
                               {"file_bytes", file_bytes_},
                               {"horizon_unix_ms", horizon_.unix_ms},
                               {"horizon_reason", horizon_.reason}});
}

std::vector<RecoveredExecution> ExecutionJournal::take_recovered() { return std::exchange(recovered_, {}); }

Status ExecutionJournal::record_accepted(const ExecutionSpec& spec, std::chrono::system_clock::time_point accepted_at) {
  pb::Record record;
  auto& accepted = *record.mutable_accepted();
  accepted.set_execution_id(spec.id);
  accepted.set_command(spec.command);
  accepted.mutable_origin()->set_namespace_(spec.origin.namespace_name);
  accepted.mutable_origin()->set_name(spec.origin.name);
  accepted.mutable_origin()->set_uid(spec.origin.uid);
  accepted.mutable_origin()->set_generation(spec.origin.generation);
  accepted.set_requested_by(spec.requested_by);
  accepted.set_accepted_unix_ms(unix_ms(accepted_at));
  accepted.set_timeout_seconds(static_cast<std::uint32_t>(spec.timeout.count()));
  accepted.set_max_output_bytes(spec.max_output_bytes);
  auto frame = append(record);
  if (!frame) return frame.error();
  set_entry(spec.id, Entry::accepted(accepted.accepted_unix_ms(), *frame));
  compact_if_due();
  return Ok{};
}

Status ExecutionJournal::record_spawned(const std::string& execution_id, const ProcessIdentity& shell) {
  const auto entry = entries_.find(execution_id);
  if (entry == entries_.end() || entry->second.finished) return Ok{};
  pb::Record record;
  auto& spawned = *record.mutable_spawned();
  spawned.set_execution_id(execution_id);
  spawned.set_pid(shell.pid);
  spawned.set_start_ticks(shell.start_ticks);
  spawned.set_boot_id(shell.boot_id);
  auto frame = append(record);
  if (!frame) return frame.error();
  entry->second.frames.push_back(*frame);
  entry->second.shell = shell;
  live_bytes_ += frame->bytes;
  compact_if_due();
  return Ok{};
}

Status ExecutionJournal::record_finished(const ExecutionStatus& status) {
  const auto known = entries_.find(status.execution_id);
  const std::int64_t accepted_unix_ms =
      known != entries_.end() ? known->second.accepted_unix_ms : unix_ms(status.start_time);
  pb::Record record;
  record.mutable_finished()->set_accepted_unix_ms(accepted_unix_ms);
  to_proto(status, *record.mutable_finished()->mutable_execution());
  auto frame = append(record);
  if (!frame) return frame.error();
  set_entry(status.execution_id, Entry::ended(accepted_unix_ms, *frame));
  compact_if_due();
  return Ok{};
}

void ExecutionJournal::forget(const std::string& execution_id) {
  const auto entry = entries_.find(execution_id);
  if (entry == entries_.end()) return;
  advance_horizon(entry->second.accepted_unix_ms, std::string(evicted_reason));
  drop_entry(execution_id);
  forgotten_.push_back(execution_id);
}

Status ExecutionJournal::record_forgotten() {
  if (forgotten_.empty()) return Ok{};
  pb::Record record;
  auto& evicted = *record.mutable_evicted();
  for (auto& id : forgotten_) evicted.add_execution_ids(std::move(id));
  forgotten_.clear();
  evicted.mutable_horizon()->set_unix_ms(horizon_.unix_ms);
  evicted.mutable_horizon()->set_reason(horizon_.reason);
  auto frame = append(record);
  if (!frame) return frame.error();
  compact_if_due();
  return Ok{};
}

Result<ExecutionJournal::Frame> ExecutionJournal::append(const pb::Record& record) {
  if (needs_rewrite_) {
    if (auto rewritten = rewrite(); !rewritten) return rewritten.error();
  }
  const std::string frame = encode_frame(record.SerializeAsString());
  auto written = write_all_at(file_.get(), frame, file_bytes_);
  if (written) written = sync_(file_.get());
  if (!written) {
    // Cut the file back to its last whole record, or rewrite it before the next append.
    if (::ftruncate(file_.get(), static_cast<off_t>(file_bytes_)) != 0) needs_rewrite_ = true;
    return written.error();
  }
  const Frame appended{file_bytes_, frame.size()};
  file_bytes_ += frame.size();
  return appended;
}

// The horizon, then every live record in its order in the old file, into journal.new; synced, renamed over
// the journal, the directory synced.
Status ExecutionJournal::rewrite() {
  const int fd = ::openat(directory_.get(), new_file_name, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return os_error(errno);
  UniqueFd next(fd);
  const auto abandon = [&](Error error) -> Status {
    ::unlinkat(directory_.get(), new_file_name, 0);
    return error;
  };

  pb::Record head;
  head.mutable_horizon()->set_unix_ms(horizon_.unix_ms);
  head.mutable_horizon()->set_reason(horizon_.reason);
  const std::string head_frame = encode_frame(head.SerializeAsString());
  if (auto written = write_all_at(fd, head_frame, 0); !written) return abandon(written.error());
  std::uint64_t size = head_frame.size();

  std::vector<Frame*> frames;
  for (auto& [id, entry] : entries_)
    for (auto& frame : entry.frames) frames.push_back(&frame);
  std::sort(frames.begin(), frames.end(), [](const Frame* a, const Frame* b) { return a->offset < b->offset; });
  std::vector<std::uint64_t> new_offsets;
  new_offsets.reserve(frames.size());
  for (const Frame* frame : frames) {
    int error = 0;
    const std::string bytes = read_at(file_.get(), frame->offset, frame->bytes, error);
    if (bytes.size() != frame->bytes) return abandon(os_error(error != 0 ? error : EIO));
    if (auto written = write_all_at(fd, bytes, size); !written) return abandon(written.error());
    new_offsets.push_back(size);
    size += frame->bytes;
  }
  if (auto synced = sync_(fd); !synced) return abandon(synced.error());
  if (::renameat(directory_.get(), new_file_name, directory_.get(), std::string(journal_file_name).c_str()) != 0)
    return abandon(os_error(errno));

  // From here on the new file is the journal, whatever happens next.
  for (std::size_t i = 0; i < frames.size(); ++i) frames[i]->offset = new_offsets[i];
  file_ = std::move(next);
  file_bytes_ = size;
  needs_rewrite_ = false;
  if (auto synced = sync_directory(directory_.get()); !synced) {
    needs_rewrite_ = true;
    return synced.error();
  }
  return Ok{};
}

void ExecutionJournal::compact_if_due() {
  if (file_bytes_ <= max_bytes_ || file_bytes_ <= 2 * live_bytes_) return;
  const std::uint64_t before = file_bytes_;
  if (auto rewritten = rewrite(); !rewritten) {
    log_.warn("cannot compact the journal; it keeps growing until it can",
              {{"journal", path_.string()}, {"file_bytes", file_bytes_}, {"error", rewritten.error().message}});
    return;
  }
  log_.info("journal compacted", {{"journal", path_.string()}, {"bytes_before", before}, {"bytes_after", file_bytes_}});
}

void ExecutionJournal::set_entry(const std::string& execution_id, Entry entry) {
  drop_entry(execution_id);
  std::uint64_t bytes = 0;
  for (const auto& frame : entry.frames) bytes += frame.bytes;
  live_bytes_ += bytes;
  if (entry.finished) finished_bytes_ += bytes;
  entries_.insert_or_assign(execution_id, std::move(entry));
}

void ExecutionJournal::drop_entry(const std::string& execution_id) {
  const auto entry = entries_.find(execution_id);
  if (entry == entries_.end()) return;
  for (const auto& frame : entry->second.frames) {
    live_bytes_ -= frame.bytes;
    if (entry->second.finished) finished_bytes_ -= frame.bytes;
  }
  entries_.erase(entry);
}

void ExecutionJournal::advance_horizon(std::int64_t unix_ms, std::string reason) {
  if (unix_ms <= horizon_.unix_ms) return;
  horizon_ = JournalHorizon{.unix_ms = unix_ms, .reason = std::move(reason)};
}

}  // namespace jarvis::agent
