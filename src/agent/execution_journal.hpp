// ExecutionJournal: the agent's durable record of the execution ids it accepted, in --state-dir/journal.
//
// The file is a sequence of records, each framed as a magic, the payload length, a CRC-32 of length and
// payload, then the payload (a jarvis.journal.v1.Record, proto/agent_journal.proto). Every record is written
// and synced before the call that wrote it returns, so an execution's Accepted record is on disk before its
// command is spawned, and its Finished record (the final Execution, output already bounded by the
// execution's cap) once it ends. A tombstone is a Finished record without an Accepted one.
//
// Opening reads every intact record back. A torn record (power loss mid-write) or corrupted bytes are
// skipped up to the next intact frame, and one log line says what was dropped; since whatever those bytes
// held is unknown from then on, the horizon moves to the time of opening. An execution that was accepted
// and never finished is turned into an interrupted one, journaled as final at once.
//
// The horizon is the moment since which the journal knows every id it accepted: when it was created, the
// accept time of every record evicted since (retention), or the time of an opening that dropped records,
// whichever is latest. It is persisted with the evictions and at the head of every rewritten file.
//
// The file stays bounded: when it outgrows max_bytes and holds more dead than live bytes, the live records
// are copied into a new file, synced, renamed over the old one (atomic) and the directory synced. The
// registry keeps finished records within half of max_bytes (finished_over_budget()).
//
// Expected failures (a full disk, an I/O error, a read-only file system) are Status values; after a failed
// append the file is cut back to its last whole record, or rewritten before the next append when that
// fails too. Not thread-safe, and its calls block for a write and an fdatasync per record: once the agent
// runs, only its journal thread calls it (JournalWorker), never the event loop.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "agent/execution_status.hpp"
#include "agent/process_identity.hpp"
#include "agent/unique_fd.hpp"
#include "common/log.hpp"
#include "common/result.hpp"

namespace jarvis::journal::v1 {
class Record;
}

namespace jarvis::agent {

inline constexpr std::string_view journal_file_name = "journal";
inline constexpr std::uint64_t default_journal_max_bytes = 64ULL << 20;

struct JournalHorizon {
  std::int64_t unix_ms = 0;
  std::string reason;  // "journal created", "older records expired", ...
};

// An execution the journal knew when it was opened; always in a final state.
struct RecoveredExecution {
  ExecutionStatus status;                 // node_name as recorded (empty for an interrupted one)
  std::optional<ProcessIdentity> shell;   // interrupted: its shell as spawned, when that was recorded
};

// Makes the data written to a file descriptor durable (fdatasync): a test wraps it to hold a sync back.
using DataSync = std::function<Status(int fd)>;

// The journal's real sync: fdatasync, retried on EINTR.
Status sync_file_data(int fd);

class ExecutionJournal {
 public:
  // Opens (creating when missing, mode 0700) `state_dir` and the journal in it, holding an exclusive lock
  // on the directory (waiting, with a log line, while another agent holds it). Fails only when the
  // directory cannot be created, opened or locked; a journal that is corrupt, unreadable or cannot be written is
  // logged and the agent goes on (its Starts then fail until the journal can be written).
  // `sync` (tests) replaces sync_file_data for the journal's files.
  static Result<std::unique_ptr<ExecutionJournal>> open(const std::filesystem::path& state_dir,
                                                         std::uint64_t max_bytes, Logger& log,
                                                         DataSync sync = sync_file_data);

  ExecutionJournal(const ExecutionJournal&) = delete;
  ExecutionJournal& operator=(const ExecutionJournal&) = delete;

  const std::filesystem::path& path() const { return path_; }
  const JournalHorizon& horizon() const { return horizon_; }

  // What open() found, oldest end time first; the first call takes it all.
  std::vector<RecoveredExecution> take_recovered();

  // Error::message is the OS error ("No space left on device"), Error::code its errno.
  Status record_accepted(const ExecutionSpec& spec, std::chrono::system_clock::time_point accepted_at);
  Status record_spawned(const std::string& execution_id, const ProcessIdentity& shell);
  // The final state of an accepted execution, or a tombstone (an id never accepted; accepted at its
  // start_time).
  Status record_finished(const ExecutionStatus& status);

  // Retention: drops the id's record now and moves the horizon to its accept time; record_forgotten()
  // persists every forget since the previous call in one record.
  void forget(const std::string& execution_id);
  Status record_forgotten();

  // Finished records take more than half of max_bytes: the registry evicts the oldest.
  bool finished_over_budget() const { return finished_bytes_ > max_bytes_ / 2; }

  std::uint64_t file_bytes() const { return file_bytes_; }
  std::uint64_t live_bytes() const { return live_bytes_; }

 private:
  struct Frame {
    std::uint64_t offset = 0;
    std::uint64_t bytes = 0;  // header included
  };
  struct Entry {
    std::int64_t accepted_unix_ms = 0;
    bool finished = false;
    std::vector<Frame> frames;  // oldest first: Accepted (+ Spawned), or Finished
    std::optional<ProcessIdentity> shell;

    static Entry accepted(std::int64_t unix_ms, Frame frame) { return {unix_ms, false, {frame}, std::nullopt}; }
    static Entry ended(std::int64_t unix_ms, Frame frame) { return {unix_ms, true, {frame}, std::nullopt}; }
  };
  struct Loaded;

  ExecutionJournal(std::filesystem::path state_dir, UniqueFd directory, std::uint64_t max_bytes, Logger& log,
                   DataSync sync);

  void load(std::int64_t now_unix_ms);
  void apply(const journal::v1::Record& record, Frame frame);
  void recover(const Loaded& loaded, std::int64_t now_unix_ms);
  Result<Frame> append(const journal::v1::Record& record);
  Status rewrite();
  void compact_if_due();
  void set_entry(const std::string& execution_id, Entry entry);
  void drop_entry(const std::string& execution_id);
  void advance_horizon(std::int64_t unix_ms, std::string reason);

  std::filesystem::path state_dir_;
  std::filesystem::path path_;
  UniqueFd directory_;
  UniqueFd file_;               // read and written at file_bytes_; invalid when there is none yet
  bool needs_rewrite_ = true;   // the file cannot be appended to as it is: rewrite it first
  std::uint64_t file_bytes_ = 0;
  std::uint64_t max_bytes_;
  Logger& log_;
  DataSync sync_;

  JournalHorizon horizon_;
  std::unordered_map<std::string, Entry> entries_;
  std::uint64_t live_bytes_ = 0;
  std::uint64_t finished_bytes_ = 0;
  std::vector<std::string> forgotten_;
  std::vector<RecoveredExecution> recovered_;
};

}  // namespace jarvis::agent
