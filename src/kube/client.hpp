// The API client: HTTP/1.1 over keep-alive TLS connections, a client-side rate limit, a deadline on every
// operation, and retries with backoff for what is worth retrying. Single-threaded: every call runs on the
// executor given at construction.
//
// Retries happen on connection failures and on the statuses of retry_policy.hpp, at most `max_retries` times,
// after the server's Retry-After or exponential backoff with jitter. A request that fails on a pooled
// connection before any byte of answer (the server closed it while idle) is sent again at once on a new
// connection. Retrying a request whose answer was lost can apply it twice; creates with a fixed name then
// get 409 AlreadyExists, which the caller sees.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/http/verb.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/log.hpp"
#include "common/result.hpp"
#include "kube/bearer_token.hpp"
#include "kube/cluster_config.hpp"
#include "kube/connection.hpp"
#include "kube/response.hpp"
#include "kube/token_bucket.hpp"

namespace jarvis::kube {

struct ClientOptions {
  // Client-side limits are a floor of politeness, not the protection: the API server's Priority and Fairness
  // answers 429 with Retry-After when it is busy, and that is honoured (controller-runtime turned client-side
  // limits off for this reason). client-go's 5 qps / burst 10 would be too slow here: a Command on N nodes
  // costs about N Event POSTs plus a few status writes, so 1,000 nodes would take over 3 minutes to report.
  // 20 qps / burst 40 reports them in under a minute and stays far below what one API server serves.
  double qps = 20;
  int burst = 40;
  std::chrono::seconds request_timeout{30};  // per attempt: connect + TLS, or send + whole response
  int max_retries = 5;
  std::uint64_t max_response_bytes = 64 * 1024 * 1024;  // a list page of 500 large objects fits
  std::size_t max_idle_connections = 4;
  // Called after every attempt (retries included) with the HTTP status, or 0 when no answer came (connection
  // refused, TLS, timeout): the controller's rest_client_requests_total and its view of the API server's
  // reachability. Runs on the client's executor; must be cheap.
  std::function<void(boost::beast::http::verb method, unsigned status)> on_attempt;
};

class Client {
 public:
  Client(boost::asio::any_io_executor ex, ClusterConfig config, ClientOptions options, Logger& log);
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;
  ~Client();

  // One request; the final response for any HTTP status (404, 409, 422... are values the caller inspects),
  // or an Error when no response could be had after the retries (or the coroutine was cancelled).
  boost::asio::awaitable<Result<Response>> request(boost::beast::http::verb method, std::string target,
                                                  std::string body = {},
                                                  std::string content_type = "application/json");

  // A GET whose 200 body is handed to `on_data` as it arrives (a watch), on a connection of its own that is
  // closed afterwards. Rate limited, not retried: the caller knows how to resume. `idle_timeout` bounds each
  // wait for data. A non-200 answer comes back with its body.
  boost::asio::awaitable<Result<Response>> stream(std::string target, std::chrono::seconds idle_timeout,
                                                 Connection::OnData on_data);

  const ClusterConfig& config() const { return config_; }
  const ClientOptions& options() const { return options_; }
  boost::asio::any_io_executor get_executor() const { return ex_; }

 private:
  boost::asio::awaitable<Status> wait_for_rate_limit();
  void observe(boost::beast::http::verb method, unsigned status);
  boost::asio::awaitable<Status> sleep(std::chrono::steady_clock::duration delay);
  boost::asio::awaitable<Result<std::unique_ptr<Connection>>> open_connection();
  HttpRequest make_request(boost::beast::http::verb method, const std::string& target, std::string body,
                           const std::string& content_type, const std::string& token);

  boost::asio::any_io_executor ex_;
  ClusterConfig config_;
  ClientOptions options_;
  Logger& log_;
  Result<std::shared_ptr<boost::asio::ssl::context>> tls_;
  BearerToken token_;
  TokenBucket rate_limit_;
  std::string host_header_;
  std::vector<std::unique_ptr<Connection>> idle_;
};

}  // namespace jarvis::kube
