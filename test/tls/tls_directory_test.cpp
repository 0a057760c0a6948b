// The TLS directory: the kubelet's Secret-volume layout, switched atomically, previous version kept once.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "support/temporary_directory.hpp"
#include "tls/tls_directory.hpp"

using namespace jarvis::tls;
namespace fs = std::filesystem;

namespace {

std::string read(const fs::path& p) {
  std::ifstream in(p);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

TlsFiles files(const std::string& tag) { return TlsFiles{"ca-" + tag, KeyPair{"cert-" + tag, "key-" + tag}}; }

std::size_t versions(const fs::path& dir) {
  std::size_t n = 0;
  for (const auto& e : fs::directory_iterator(dir)) n += e.path().filename().string().rfind("..v", 0) == 0;
  return n;
}

}  // namespace

TEST_CASE("a TLS directory is written through ..data and replaced atomically", "[tls]") {
  jarvis::test::TemporaryDirectory tmp;
  const fs::path dir = tmp.path() / "tls";
  CHECK_FALSE(tls_directory_complete(dir));

  REQUIRE(write_tls_directory(dir, files("1")).ok());
  CHECK(tls_directory_complete(dir));
  CHECK(read(dir / "ca.crt") == "ca-1");
  CHECK(read(dir / "tls.crt") == "cert-1");
  CHECK(read(dir / "tls.key") == "key-1");
  CHECK(fs::is_symlink(dir / "tls.key"));
  CHECK(fs::read_symlink(dir / "tls.key") == fs::path("..data") / "tls.key");
  CHECK((fs::status(dir / "tls.key").permissions() & (fs::perms::group_all | fs::perms::others_all)) ==
        fs::perms::none);

  REQUIRE(write_tls_directory(dir, files("2")).ok());
  CHECK(read(dir / "tls.crt") == "cert-2");
  CHECK(read(dir / "tls.key") == "key-2");
  CHECK(versions(dir) == 2);  // the one readers may still be in, and the new one

  REQUIRE(write_tls_directory(dir, files("3")).ok());
  CHECK(read(dir / "ca.crt") == "ca-3");
  CHECK(versions(dir) == 2);
  CHECK_FALSE(fs::exists(dir / "..data_tmp"));
}

TEST_CASE("a TLS directory that cannot be created is an error naming it", "[tls]") {
  jarvis::test::TemporaryDirectory tmp;
  std::ofstream(tmp.path() / "file") << "x";
  const auto written = write_tls_directory(tmp.path() / "file" / "tls", files("1"));
  REQUIRE_FALSE(written.ok());
  CHECK_THAT(written.error().message, Catch::Contains((tmp.path() / "file").string()));
}
