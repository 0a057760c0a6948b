// A fresh directory under $TMPDIR (or /tmp), removed with everything in it when the object goes away.
#pragma once

#include <filesystem>
#include <string>

namespace jarvis::agent::test {

class TemporaryDirectory {
 public:
  TemporaryDirectory();
  ~TemporaryDirectory();
  TemporaryDirectory(const TemporaryDirectory&) = delete;
  TemporaryDirectory& operator=(const TemporaryDirectory&) = delete;

  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace jarvis::agent::test
