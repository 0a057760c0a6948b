#include <catch2/catch.hpp>

#include <cstdlib>
#include <optional>
#include <string>

#include "kube/base64.hpp"
#include "kube/cluster_config.hpp"
#include "support/temporary_directory.hpp"
#include "support/test_certificates.hpp"

using namespace jarvis;
using namespace jarvis::kube;
using jarvis::test::base64_encode;
using jarvis::test::KeyPair;
using jarvis::test::make_self_signed;
using jarvis::test::TemporaryDirectory;

namespace {

// Sets or unsets an environment variable for one test and puts the old value back.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value != nullptr) {
      setenv(name, value, 1);
    } else {
      unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (old_) {
      setenv(name_, old_->c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

const KeyPair& ca() {
  static const KeyPair pair = make_self_signed("test-ca");
  return pair;
}
const KeyPair& client() {
  static const KeyPair pair = make_self_signed("test-admin");
  return pair;
}

// A kubeconfig with two contexts; `user_body` is the YAML of the "admin" user, indented by 4.
std::string kubeconfig(const std::string& user_body, const std::string& current = "admin",
                       const std::string& cluster_extra = "    certificate-authority-data: " + base64_encode(ca().certificate_pem) + "\n") {
  return "apiVersion: v1\nkind: Config\n"
         "clusters:\n"
         "- name: local\n  cluster:\n    server: https://127.0.0.1:6443\n" + cluster_extra +
         "- name: other\n  cluster:\n    server: https://other.example:8443\n    insecure-skip-tls-verify: true\n"
         "contexts:\n"
         "- name: admin\n  context:\n    cluster: local\n    user: admin\n    namespace: jarvis\n"
         "- name: elsewhere\n  context:\n    cluster: other\n    user: admin\n"
         "current-context: " + current + "\n"
         "users:\n- name: admin\n  user:\n" + user_body;
}

}  // namespace

TEST_CASE("kubeconfig with a static token and inline CA") {
  TemporaryDirectory dir;
  auto path = dir.write("config", kubeconfig("    token: abc.def\n"));
  auto config = load_kubeconfig(path);
  REQUIRE(config);
  CHECK(config->server == "https://127.0.0.1:6443");
  CHECK(config->host == "127.0.0.1");
  CHECK(config->port == "6443");
  CHECK(config->token == "abc.def");
  CHECK(config->token_file.empty());
  CHECK(config->ca_pem == ca().certificate_pem);
  CHECK_FALSE(config->insecure_skip_verify);
  CHECK(config->default_namespace == "jarvis");
  CHECK(config->source == "kubeconfig " + path + " (context admin)");
}

TEST_CASE("kubeconfig tokenFile is resolved against the kubeconfig's directory") {
  TemporaryDirectory dir;
  dir.write("secrets/token", "t0ken\n");
  auto path = dir.write("config", kubeconfig("    tokenFile: secrets/token\n"));
  auto config = load_kubeconfig(path);
  REQUIRE(config);
  CHECK(config->token_file == (dir.path() / "secrets/token").string());
}

TEST_CASE("kubeconfig client certificate and key as data and as files") {
  TemporaryDirectory dir;
  SECTION("data") {
    auto path = dir.write("config", kubeconfig("    client-certificate-data: " + base64_encode(client().certificate_pem) +
                                               "\n    client-key-data: " + base64_encode(client().key_pem) + "\n"));
    auto config = load_kubeconfig(path);
    REQUIRE(config);
    CHECK(config->client_cert_pem == client().certificate_pem);
    CHECK(config->client_key_pem == client().key_pem);
  }
  SECTION("files, with the CA from a file too") {
    auto cert = dir.write("pki/admin.crt", client().certificate_pem);
    dir.write("pki/admin.key", client().key_pem);
    dir.write("pki/ca.crt", ca().certificate_pem);
    auto path = dir.write("config", kubeconfig("    client-certificate: " + cert + "\n    client-key: pki/admin.key\n",
                                               "admin", "    certificate-authority: pki/ca.crt\n"));
    auto config = load_kubeconfig(path);
    REQUIRE(config);
    CHECK(config->client_cert_pem == client().certificate_pem);
    CHECK(config->client_key_pem == client().key_pem);
    CHECK(config->ca_pem == ca().certificate_pem);
  }
}

TEST_CASE("the current context picks cluster and user; an explicit context overrides it") {
  TemporaryDirectory dir;
  auto path = dir.write("config", kubeconfig("    token: x\n", "elsewhere"));
  auto config = load_kubeconfig(path);
  REQUIRE(config);
  CHECK(config->host == "other.example");
  CHECK(config->port == "8443");
  CHECK(config->insecure_skip_verify);
  CHECK(config->ca_pem.empty());
  auto admin = load_kubeconfig(path, "admin");
  REQUIRE(admin);
  CHECK(admin->host == "127.0.0.1");
}

TEST_CASE("kubeconfig errors name the file, the field and the fix") {
  TemporaryDirectory dir;
  SECTION("missing context") {
    auto path = dir.write("config", kubeconfig("    token: x\n", "foo"));
    auto config = load_kubeconfig(path);
    REQUIRE_FALSE(config);
    CHECK(config.error().message == "kubeconfig " + path + ": context \"foo\" not found in contexts");
  }
  SECTION("missing file") {
    auto config = load_kubeconfig((dir.path() / "nope").string());
    REQUIRE_FALSE(config);
    CHECK_THAT(config.error().message, Catch::Contains("cannot read " + (dir.path() / "nope").string()) &&
                                           Catch::Contains("No such file") && Catch::Contains("--kubeconfig"));
  }
  SECTION("no current context") {
    auto path = dir.write("config", kubeconfig("    token: x\n", "\"\""));
    auto config = load_kubeconfig(path);
    REQUIRE_FALSE(config);
    CHECK_THAT(config.error().message, Catch::Contains("current-context is not set") && Catch::Contains("use-context"));
  }
  SECTION("invalid YAML") {
    auto path = dir.write("config", "clusters: [\n");
    auto config = load_kubeconfig(path);
    REQUIRE_FALSE(config);
    CHECK_THAT(config.error().message, Catch::StartsWith("kubeconfig " + path + ": "));
  }
  SECTION("bad base64") {
    auto path = dir.write("config", kubeconfig("    client-certificate-data: '!!!'\n    client-key-data: x\n"));
    auto config = load_kubeconfig(path);
    REQUIRE_FALSE(config);
    CHECK(config.error().message ==
          "kubeconfig " + path + ": user \"admin\".client-certificate-data is not valid base64");
  }
  SECTION("certificate that is not PEM") {
    auto path = dir.write("config", kubeconfig("    client-certificate-data: " + base64_encode(std::string("hello")) +
                                               "\n    client-key-data: " + base64_encode(client().key_pem) + "\n"));
    auto config = load_kubeconfig(path);
    REQUIRE_FALSE(config);
    CHECK_THAT(config.error().message, Catch::Contains("client certificate is not a valid PEM certificate"));
  }
  SECTION("key that does not match the certificate") {
    auto path = dir.write("config", kubeconfig("    client-certificate-data: " + base64_encode(client().certificate_pem) +
                                               "\n    client-key-data: " + base64_encode(ca().key_pem) + "\n"));
    auto config = load_kubeconfig(path);
    REQUIRE_FALSE(config);
    CHECK_THAT(config.error().message, Catch::Contains("client key does not match"));
  }
  SECTION("certificate without key") {
    auto path = dir.write("config", kubeconfig("    client-certificate-data: " + base64_encode(client().certificate_pem) + "\n"));
    auto config = load_kubeconfig(path);
    REQUIRE_FALSE(config);
    CHECK_THAT(config.error().message, Catch::Contains("needs its key"));
  }
  SECTION("missing token file") {
    auto path = dir.write("config", kubeconfig("    tokenFile: /nonexistent/token\n"));
    auto config = load_kubeconfig(path);
    REQUIRE_FALSE(config);
    CHECK_THAT(config.error().message, Catch::Contains("user \"admin\".tokenFile: cannot read /nonexistent/token"));
  }
  SECTION("an exec plugin without a command or with an unknown apiVersion") {
    auto path = dir.write("config", kubeconfig("    exec:\n      apiVersion: client.authentication.k8s.io/v1\n"));
    CHECK_THAT(load_kubeconfig(path).error().message, Catch::Contains("user \"admin\".exec.command is not set"));
    path = dir.write("config2", kubeconfig("    exec:\n      apiVersion: client.authentication.k8s.io/v1alpha1\n"
                                           "      command: x\n"));
    CHECK_THAT(load_kubeconfig(path).error().message,
               Catch::Contains("exec.apiVersion") && Catch::Contains("use client.authentication.k8s.io/v1"));
  }
  SECTION("auth-provider is refused with the alternatives") {
    auto path = dir.write("config", kubeconfig("    auth-provider:\n      name: gcp\n"));
    CHECK_THAT(load_kubeconfig(path).error().message, Catch::Contains("auth-provider is not supported") &&
                                                          Catch::Contains("exec plugin"));
  }
}

TEST_CASE("an exec plugin: command resolved like kubectl, args, env, hint") {
  TemporaryDirectory dir;
  auto path = dir.write("config", kubeconfig("    exec:\n      apiVersion: client.authentication.k8s.io/v1\n"
                                             "      command: ./bin/token-helper\n"
                                             "      args: [get-token, --cluster, c1]\n"
                                             "      env:\n      - name: REGION\n        value: eu\n"
                                             "      installHint: install token-helper\n"));
  auto config = load_kubeconfig(path);
  REQUIRE(config);
  CHECK(config->exec.configured());
  CHECK(config->exec.command == (dir.path() / "./bin/token-helper").string());
  CHECK(config->exec.args == std::vector<std::string>{"get-token", "--cluster", "c1"});
  REQUIRE(config->exec.env.size() == 1);
  CHECK(config->exec.env[0] == std::pair<std::string, std::string>{"REGION", "eu"});
  CHECK(config->exec.install_hint == "install token-helper");
  CHECK(config->exec.api_version == "client.authentication.k8s.io/v1");
  // A bare name is looked up on PATH when run.
  auto bare = dir.write("config2", kubeconfig("    exec:\n      apiVersion: client.authentication.k8s.io/v1\n"
                                              "      command: aws\n"));
  CHECK(load_kubeconfig(bare)->exec.command == "aws");
}

TEST_CASE("several kubeconfig files merge as kubectl merges KUBECONFIG: the first file wins per name") {
  TemporaryDirectory dir;
  // First file: current-context and the user "admin" only (its token wins), plus a context of its own.
  auto first = dir.write("first",
                         "apiVersion: v1\nkind: Config\ncurrent-context: mine\n"
                         "contexts:\n- name: mine\n  context:\n    cluster: local\n    user: admin\n    namespace: team\n"
                         "users:\n- name: admin\n  user:\n    token: from-first\n");
  // Second file: the clusters, a user of the same name (loses), its own current-context (loses).
  auto second = dir.write("second", kubeconfig("    token: from-second\n", "elsewhere"));
  auto missing = (dir.path() / "missing").string();
  auto merged = load_kubeconfigs({missing, first, second});
  REQUIRE(merged);
  CHECK(merged->context == "mine");
  CHECK(merged->server == "https://127.0.0.1:6443");  // cluster "local" from the second file
  CHECK(merged->token == "from-first");
  CHECK(merged->default_namespace == "team");
  CHECK(merged->source == "kubeconfig " + first + " (context mine)");

  // --context picks a context that only the second file has.
  auto other = load_kubeconfigs({first, second}, "elsewhere");
  REQUIRE(other);
  CHECK(other->server == "https://other.example:8443");
  CHECK(other->token == "from-first");

  // Reversed order: the second file's current-context and user win.
  auto reversed = load_kubeconfigs({second, first});
  REQUIRE(reversed);
  CHECK(reversed->context == "elsewhere");
  CHECK(reversed->token == "from-second");

  // A name found in no file names every file.
  auto unknown = load_kubeconfigs({first, second}, "nope");
  REQUIRE_FALSE(unknown);
  CHECK(unknown.error().message == "kubeconfig " + first + ":" + second + ": context \"nope\" not found in contexts");
  CHECK_FALSE(load_kubeconfigs({missing}));
}

TEST_CASE("KUBECONFIG with several files is merged by load_cluster_config") {
  TemporaryDirectory dir;
  auto first = dir.write("a", "apiVersion: v1\nkind: Config\nusers:\n- name: admin\n  user:\n    token: from-a\n");
  auto second = dir.write("b", kubeconfig("    token: from-b\n"));
  ScopedEnv kubeconfig_env("KUBECONFIG", (first + "::" + second).c_str());
  CHECK(kubeconfig_env_paths() == std::vector<std::string>{first, second});
  auto config = load_cluster_config("");
  REQUIRE(config);
  CHECK(config->token == "from-a");
  CHECK(config->default_namespace == "jarvis");
  auto with_context = load_cluster_config("", "elsewhere");
  REQUIRE(with_context);
  CHECK(with_context->server == "https://other.example:8443");
}

TEST_CASE("server URLs: default port, IPv6, paths") {
  auto parse = [](const std::string& server) {
    ClusterConfig c;
    c.server = server;
    auto parsed = parse_server_url(c);
    return parsed ? c.host + " " + c.port : "error: " + parsed.error().message;
  };
  CHECK(parse("https://kube.example") == "kube.example 443");
  CHECK(parse("https://kube.example/") == "kube.example 443");
  CHECK(parse("https://[::1]:6443") == "::1 6443");
  CHECK(parse("https://[fd00::1]") == "fd00::1 443");
  CHECK_THAT(parse("https://kube.example/prefix"), Catch::Contains("path after the host"));
  CHECK_THAT(parse("https://kube.example:99999"), Catch::Contains("invalid port"));
  CHECK_THAT(parse("https://:6443"), Catch::Contains("no host"));
  CHECK_THAT(parse("http://127.0.0.1:8080"), Catch::Contains("is not an https:// URL"));
}

TEST_CASE("in-cluster configuration from a service account directory") {
  TemporaryDirectory dir;
  dir.write("token", "sa-token\n");
  dir.write("ca.crt", ca().certificate_pem);
  dir.write("namespace", "jarvis");
  ScopedEnv host("KUBERNETES_SERVICE_HOST", "10.0.0.1");
  ScopedEnv port("KUBERNETES_SERVICE_PORT", "443");
  auto config = load_in_cluster_config(dir.path().string());
  REQUIRE(config);
  CHECK(config->server == "https://10.0.0.1:443");
  CHECK(config->token_file == (dir.path() / "token").string());
  CHECK(config->token.empty());
  CHECK(config->ca_pem == ca().certificate_pem);
  CHECK(config->default_namespace == "jarvis");
  CHECK(config->source == "in-cluster");

  SECTION("IPv6 service host") {
    ScopedEnv v6("KUBERNETES_SERVICE_HOST", "fd00::1");
    auto v6config = load_in_cluster_config(dir.path().string());
    REQUIRE(v6config);
    CHECK(v6config->server == "https://[fd00::1]:443");
    CHECK(v6config->host == "fd00::1");
  }
  SECTION("missing token file") {
    std::filesystem::remove(dir.path() / "token");
    auto missing = load_in_cluster_config(dir.path().string());
    REQUIRE_FALSE(missing);
    CHECK_THAT(missing.error().message, Catch::Contains("service account token: cannot read"));
  }
}

TEST_CASE("outside a pod without a kubeconfig the error says what to pass") {
  ScopedEnv kubeconfig_env("KUBECONFIG", nullptr);
  ScopedEnv host("KUBERNETES_SERVICE_HOST", nullptr);
  auto config = load_cluster_config("");
  REQUIRE_FALSE(config);
  CHECK_THAT(config.error().message, Catch::Contains("KUBERNETES_SERVICE_HOST") && Catch::Contains("--kubeconfig"));
}

TEST_CASE("--kubeconfig wins over KUBECONFIG, whose files win over in-cluster") {
  TemporaryDirectory dir;
  auto flag = dir.write("flag", kubeconfig("    token: from-flag\n"));
  auto env = dir.write("env", kubeconfig("    token: from-env\n"));
  ScopedEnv kubeconfig_env("KUBECONFIG", (env + ":" + flag).c_str());
  ScopedEnv host("KUBERNETES_SERVICE_HOST", "10.0.0.1");
  ScopedEnv port("KUBERNETES_SERVICE_PORT", "443");
  auto from_flag = load_cluster_config(flag);
  REQUIRE(from_flag);
  CHECK(from_flag->token == "from-flag");
  auto from_env = load_cluster_config("");
  REQUIRE(from_env);
  CHECK(from_env->token == "from-env");
}

TEST_CASE("base64 decoding accepts padding, no padding and line breaks") {
  CHECK(base64_decode("aGVsbG8=") == "hello");
  CHECK(base64_decode("aGVsbG8") == "hello");
  CHECK(base64_decode("aGVs\nbG8h") == "hello!");
  CHECK(base64_decode("") == "");
  CHECK_FALSE(base64_decode("a"));
  CHECK_FALSE(base64_decode("aGV*"));
  CHECK_FALSE(base64_decode("aG=Vs"));
}

TEST_CASE("base64 encoding matches OpenSSL's and round-trips every length and byte") {
  CHECK(jarvis::kube::base64_encode("") == "");
  CHECK(jarvis::kube::base64_encode("h") == "aA==");
  CHECK(jarvis::kube::base64_encode("he") == "aGU=");
  CHECK(jarvis::kube::base64_encode("hello") == "aGVsbG8=");
  std::string bytes;
  for (int i = 0; i < 256; ++i) bytes += static_cast<char>(i);
  for (std::size_t n = 0; n <= bytes.size(); n += 37) {
    const std::string prefix = bytes.substr(0, n);
    const std::string encoded = jarvis::kube::base64_encode(std::string_view(prefix));
    CHECK(encoded == jarvis::test::base64_encode(prefix));
    CHECK(base64_decode(encoded) == prefix);
  }
}
