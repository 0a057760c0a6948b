// Freshly made PEM key pairs and certificates for configuration tests (no files shipped in the repo).
#pragma once

#include <string>

namespace jarvis::test {

struct KeyPair {
  std::string certificate_pem;
  std::string key_pem;
};

// A self-signed EC P-256 certificate for `common_name`, valid for a day.
KeyPair make_self_signed(const std::string& common_name);

std::string base64_encode(const std::string& bytes);

}  // namespace jarvis::test
