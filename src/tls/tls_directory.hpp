// A directory holding ca.crt, tls.crt and tls.key, updated the way the kubelet updates a Secret volume: the
// files are written into a fresh hidden directory, the `..data` symlink is switched to it with one rename,
// and each name is a symlink through `..data`. A reader that opens the files after a switch sees the new
// set; gRPC's file watcher re-reads them on its own schedule.
#pragma once

#include <filesystem>
#include <string>

#include "common/result.hpp"
#include "tls/certificates.hpp"

namespace jarvis::tls {

struct TlsFiles {
  std::string ca_certificate_pem;
  KeyPair identity;
};

Status write_tls_directory(const std::filesystem::path& directory, const TlsFiles& files);

// Reads the three files; the error names the file that could not be read.
Result<TlsFiles> read_tls_directory(const std::filesystem::path& directory);

// Whether all three files exist (following the symlinks).
bool tls_directory_complete(const std::filesystem::path& directory);

}  // namespace jarvis::tls
