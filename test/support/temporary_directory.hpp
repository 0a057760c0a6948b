// A fresh directory under $TMPDIR (or /tmp), removed with everything in it when the object goes away, whether the
// test passed or failed.
#pragma once

#include <filesystem>
#include <string>

namespace jarvis::test {

class TemporaryDirectory {
 public:
  TemporaryDirectory();
  ~TemporaryDirectory();
  TemporaryDirectory(const TemporaryDirectory&) = delete;
  TemporaryDirectory& operator=(const TemporaryDirectory&) = delete;

  const std::filesystem::path& path() const { return path_; }
  // Writes `content` to `name` inside the directory (making the folders on the way); returns the full path.
  std::string write(const std::string& name, const std::string& content) const;

 private:
  std::filesystem::path path_;
};

}  // namespace jarvis::test
