#include "tls/grpc_credentials.hpp"

#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_certificate_verifier.h>
#include <grpcpp/security/tls_credentials_options.h>

#include "tls/identities.hpp"

namespace jarvis::tls {

namespace {

namespace exp = grpc::experimental;

// Accepts a peer whose (already chain-verified) certificate carries `identity` as a DNS name.
class IdentityVerifier final : public exp::ExternalCertificateVerifier {
 public:
  explicit IdentityVerifier(std::string identity) : identity_(std::move(identity)) {}

  bool Verify(exp::TlsCustomVerificationCheckRequest* request, std::function<void(grpc::Status)>,
              grpc::Status* sync_status) override {
    for (const grpc::string_ref& name : request->dns_names()) {
      if (std::string_view(name.data(), name.size()) == identity_) {
        *sync_status = grpc::Status::OK;
        return true;
      }
    }
    const grpc::string_ref common_name = request->common_name();
    const std::string detail =
        "peer certificate (CN=" + std::string(common_name.data(), common_name.size()) + ") does not name " + identity_;
    *sync_status = grpc::Status(grpc::StatusCode::UNAUTHENTICATED, detail);
    return true;
  }

  void Cancel(exp::TlsCustomVerificationCheckRequest*) override {}

 private:
  std::string identity_;
};

std::shared_ptr<exp::FileWatcherCertificateProvider> provider(const std::string& key_path,
                                                              const std::string& certificate_path,
                                                              const std::string& ca_path, unsigned refresh) {
  return std::make_shared<exp::FileWatcherCertificateProvider>(key_path, certificate_path, ca_path,
                                                               std::max(refresh, 1u));
}

}  // namespace

std::shared_ptr<grpc::ChannelCredentials> client_credentials(const std::string& ca_path,
                                                             const std::string& certificate_path,
                                                             const std::string& key_path,
                                                             const std::string& server_identity,
                                                             unsigned refresh_interval_seconds) {
  exp::TlsChannelCredentialsOptions options;
  options.set_certificate_provider(provider(key_path, certificate_path, ca_path, refresh_interval_seconds));
  options.watch_root_certs();
  if (!certificate_path.empty()) options.watch_identity_key_cert_pairs();
  options.set_verify_server_certs(true);
  options.set_check_call_host(false);
  options.set_certificate_verifier(exp::ExternalCertificateVerifier::Create<IdentityVerifier>(server_identity));
  return exp::TlsCredentials(options);
}

void add_agent_channel_arguments(grpc::ChannelArguments& arguments) {
  arguments.SetSslTargetNameOverride(std::string(agent_identity));
}

std::string peer_common_name(const grpc::AuthContext& context) {
  const auto values = context.FindPropertyValues(GRPC_X509_CN_PROPERTY_NAME);
  if (values.empty()) return {};
  return std::string(values.front().data(), values.front().size());
}

}  // namespace jarvis::tls
