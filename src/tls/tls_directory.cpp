#include "tls/tls_directory.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>
#include <system_error>
#include <vector>

#include "tls/identities.hpp"

namespace jarvis::tls {

namespace fs = std::filesystem;

namespace {

Status write_file(const fs::path& path, const std::string& content, mode_t mode) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) return Error{"cannot create " + path.string() + ": " + std::strerror(errno)};
  std::size_t written = 0;
  while (written < content.size()) {
    const ssize_t n = ::write(fd, content.data() + written, content.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int error = errno;
      ::close(fd);
      return Error{"cannot write " + path.string() + ": " + std::strerror(error)};
    }
    written += static_cast<std::size_t>(n);
  }
  const bool synced = ::fsync(fd) == 0;
  ::close(fd);
  if (!synced) return Error{"cannot sync " + path.string() + ": " + std::strerror(errno)};
  return Ok{};
}

}  // namespace

Status write_tls_directory(const fs::path& directory, const TlsFiles& files) {
  std::error_code ec;
  fs::create_directories(directory, ec);
  if (ec) return Error{"cannot create " + directory.string() + ": " + ec.message()};
  fs::permissions(directory, fs::perms::owner_all, ec);

  const auto stamp = std::chrono::system_clock::now().time_since_epoch().count();
  const std::string version = "..v" + std::to_string(stamp);
  const fs::path version_dir = directory / version;
  fs::create_directory(version_dir, ec);
  if (ec) return Error{"cannot create " + version_dir.string() + ": " + ec.message()};
  const std::array<std::pair<std::string_view, const std::string*>, 3> contents{{
      {ca_file, &files.ca_certificate_pem},
      {certificate_file, &files.identity.certificate_pem},
      {private_key_file, &files.identity.private_key_pem},
  }};
  for (const auto& [name, content] : contents) {
    if (auto written = write_file(version_dir / name, *content, name == private_key_file ? 0600 : 0644); !written) {
      return written;
    }
  }

  // The version readers may still be in the middle of: kept until the next switch.
  const fs::path previous = fs::read_symlink(directory / "..data", ec);

  // Switch ..data to the new version in one rename, then make sure the stable names point through it.
  const fs::path next_link = directory / "..data_tmp";
  fs::remove(next_link, ec);
  fs::create_directory_symlink(version, next_link, ec);
  if (ec) return Error{"cannot link " + next_link.string() + ": " + ec.message()};
  fs::rename(next_link, directory / "..data", ec);
  if (ec) return Error{"cannot switch " + (directory / "..data").string() + ": " + ec.message()};
  for (const auto& [name, content] : contents) {
    const fs::path link = directory / name;
    if (fs::is_symlink(fs::symlink_status(link, ec))) continue;
    fs::create_symlink(fs::path("..data") / name, link, ec);
    if (ec) return Error{"cannot link " + link.string() + ": " + ec.message()};
  }

  // Versions older than the previous one are no longer reachable through ..data.
  std::vector<fs::path> stale;
  for (const auto& entry : fs::directory_iterator(directory, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("..v", 0) == 0 && name != version && name != previous.string()) stale.push_back(entry.path());
  }
  for (const auto& path : stale) fs::remove_all(path, ec);
  return Ok{};
}

Result<TlsFiles> read_tls_directory(const fs::path& directory) {
  auto read = [&](std::string_view name) -> Result<std::string> {
    std::ifstream in(directory / name, std::ios::binary);
    std::ostringstream text;
    if (in) text << in.rdbuf();
    if (!in || text.str().empty()) return Error{"cannot read " + (directory / name).string()};
    return text.str();
  };
  auto ca = read(ca_file);
  if (!ca) return ca.error();
  auto certificate = read(certificate_file);
  if (!certificate) return certificate.error();
  auto key = read(private_key_file);
  if (!key) return key.error();
  return TlsFiles{std::move(*ca), KeyPair{std::move(*certificate), std::move(*key)}};
}

bool tls_directory_complete(const fs::path& directory) {
  std::error_code ec;
  return fs::is_regular_file(directory / ca_file, ec) && fs::is_regular_file(directory / certificate_file, ec) &&
         fs::is_regular_file(directory / private_key_file, ec);
}

}  // namespace jarvis::tls
