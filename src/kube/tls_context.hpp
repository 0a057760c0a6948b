// The TLS client context for a cluster: the cluster CA (or the system's when none is given), peer
// verification unless insecure-skip-tls-verify, and the client certificate and key from memory.
#pragma once

#include <boost/asio/ssl/context.hpp>

#include <memory>

#include "common/result.hpp"
#include "kube/cluster_config.hpp"

namespace jarvis::kube {

Result<std::shared_ptr<boost::asio::ssl::context>> make_tls_context(const ClusterConfig& config);

}  // namespace jarvis::kube
