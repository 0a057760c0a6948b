#include "kube/client.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/field.hpp>

#include "jarvis_version.hpp"
#include "common/backoff.hpp"
#include "common/coro.hpp"
#include "kube/retry_after.hpp"
#include "kube/retry_policy.hpp"
#include "kube/tls_context.hpp"

namespace jarvis::kube {

namespace asio = boost::asio;
namespace http = boost::beast::http;

namespace {


std::string describe_request(http::verb method, const std::string& target) {
  return std::string(http::to_string(method)) + " " + target;
}

}  // namespace

Client::Client(asio::any_io_executor ex, ClusterConfig config, ClientOptions options, Logger& log)
    : ex_(std::move(ex)),
      config_(std::move(config)),
      options_(options),
      log_(log),
      tls_(make_tls_context(config_)),
      token_(config_.token, config_.token_file, log,
             config_.exec_tokens || !config_.exec.configured()
                 ? config_.exec_tokens
                 : ExecTokenCache::for_plugin(config_.exec)),
      rate_limit_(options_.qps, options_.burst, std::chrono::steady_clock::now()) {
  bool ipv6 = config_.host.find(':') != std::string::npos;
  host_header_ = (ipv6 ? "[" + config_.host + "]" : config_.host) + ":" + config_.port;
}

Client::~Client() = default;

asio::awaitable<Status> Client::sleep(std::chrono::steady_clock::duration delay) {
  if (delay <= std::chrono::steady_clock::duration::zero()) co_return Ok{};
  // Bound first: GCC 12 miscompiles a co_await inside a condition (see common/coro.hpp).
  const bool slept = co_await sleep_for(delay);
  if (!slept) co_return cancelled_error();
  co_return Ok{};
}

void Client::observe(http::verb method, unsigned status) {
  if (options_.on_attempt) options_.on_attempt(method, status);
}

asio::awaitable<Status> Client::wait_for_rate_limit() {
  co_return co_await sleep(rate_limit_.take(std::chrono::steady_clock::now()));
}

asio::awaitable<Result<std::unique_ptr<Connection>>> Client::open_connection() {
  if (!tls_) co_return tls_.error();
  auto connection = std::make_unique<Connection>(ex_, **tls_);
  Status connected = co_await connection->connect(config_.host, config_.port, options_.request_timeout);
  if (!connected) co_return connected.error();
  co_return connection;
}

HttpRequest Client::make_request(http::verb method, const std::string& target, std::string body,
                                 const std::string& content_type, const std::string& token) {
  HttpRequest request{method, target, 11};
  request.set(http::field::host, host_header_);
  request.set(http::field::user_agent, "jarvis/" JARVIS_VERSION);
  request.set(http::field::accept, "application/json");
  if (!token.empty()) request.set(http::field::authorization, "Bearer " + token);
  if (!body.empty()) request.set(http::field::content_type, content_type);
  request.keep_alive(true);
  request.body() = std::move(body);
  request.prepare_payload();
  return request;
}

asio::awaitable<Result<Response>> Client::request(http::verb method, std::string target, std::string body,
                                                  std::string content_type) {
  Backoff backoff(std::chrono::milliseconds(250), std::chrono::seconds(8));
  bool token_refreshed = false;
  Error last_error;
  std::chrono::steady_clock::duration delay{};
  for (int attempt = 0;; ++attempt) {
    if (delay > std::chrono::steady_clock::duration::zero()) {
      log_.debug("retrying API request",
                 {{"request", describe_request(method, target)},
                  {"attempt", attempt},
                  {"delay_ms", static_cast<std::int64_t>(
                                   std::chrono::duration_cast<std::chrono::milliseconds>(delay).count())},
                  {"error", last_error.message}});
      if (Status slept = co_await sleep(delay); !slept) co_return slept.error();
      delay = {};
    }
    if (Status allowed = co_await wait_for_rate_limit(); !allowed) co_return allowed.error();
    // Waits only when an exec plugin's token expired and its new one is not there yet; before taking a
    // pooled connection, which could go stale meanwhile.
    auto token = co_await token_.current(std::chrono::steady_clock::now());
    if (is_cancelled(co_await asio::this_coro::cancellation_state)) co_return cancelled_error();
    if (!token) co_return Error{describe_request(method, target) + ": " + token.error().message};

    std::unique_ptr<Connection> connection;
    bool reused = !idle_.empty();
    if (reused) {
      connection = std::move(idle_.back());
      idle_.pop_back();
    } else {
      auto opened = co_await open_connection();
      if (is_cancelled(co_await asio::this_coro::cancellation_state)) co_return cancelled_error();
      if (!opened) {
        observe(method, 0);
        last_error = opened.error();
        if (attempt >= options_.max_retries) break;
        delay = backoff.next();
        continue;
      }
      connection = std::move(*opened);
    }

    HttpRequest made = make_request(method, target, body, content_type, *token);
    Result<Response> answer =
        co_await connection->round_trip(made, options_.request_timeout, options_.max_response_bytes);
    if (is_cancelled(co_await asio::this_coro::cancellation_state)) co_return cancelled_error();
    observe(method, answer ? answer->status : 0);
    if (!answer) {
      if (reused && connection->bytes_received() == 0) {
        // The server closed the idle connection (timeout, restart): the others in the pool are likely as stale.
        idle_.clear();
        --attempt;
        continue;
      }
      last_error = answer.error();
      if (attempt >= options_.max_retries) break;
      delay = backoff.next();
      continue;
    }
    if (connection->reusable() && idle_.size() < options_.max_idle_connections) idle_.push_back(std::move(connection));

    Response& response = *answer;
    if (response.status == 401 && !token_refreshed && token_.refresh_after_unauthorized()) {
      token_refreshed = true;  // perhaps a rotated token: one more try with the file read again
      --attempt;
      continue;
    }
    if (!is_retryable_status(response.status, response.retry_after)) co_return std::move(response);
    if (attempt >= options_.max_retries) {
      // The caller decides what the answer means, but a request that failed through every retry is worth a line
      // of its own: rest_client_requests_total counts it, and this says which request it was.
      log_.warn("API request still failing after retries",
                {{"request", describe_request(method, target)}, {"http_status", response.status},
                 {"attempts", options_.max_retries + 1}, {"error", describe_response(response)}});
      co_return std::move(response);
    }
    last_error = Error{describe_response(response), static_cast<int>(response.status)};
    auto asked = parse_retry_after(response.retry_after, std::chrono::system_clock::now());
    delay = asked ? std::chrono::steady_clock::duration(std::min(*asked, kMaxRetryAfter)) : backoff.next();
  }
  log_.warn("API request failed after retries", {{"request", describe_request(method, target)},
                                                  {"attempts", options_.max_retries + 1},
                                                  {"error", last_error.message}});
  co_return Error{describe_request(method, target) + ": " + last_error.message + " (after " +
                      std::to_string(options_.max_retries + 1) + " attempts)",
                  last_error.code};
}

asio::awaitable<Result<Response>> Client::stream(std::string target, std::chrono::seconds idle_timeout,
                                                 Connection::OnData on_data) {
  if (Status allowed = co_await wait_for_rate_limit(); !allowed) co_return allowed.error();
  auto token = co_await token_.current(std::chrono::steady_clock::now());
  if (is_cancelled(co_await asio::this_coro::cancellation_state)) co_return cancelled_error();
  if (!token) co_return Error{"GET " + target + ": " + token.error().message};
  auto opened = co_await open_connection();
  if (is_cancelled(co_await asio::this_coro::cancellation_state)) co_return cancelled_error();
  if (!opened) observe(http::verb::get, 0);
  if (!opened) co_return Error{"GET " + target + ": " + opened.error().message, opened.error().code};
  HttpRequest made = make_request(http::verb::get, target, {}, {}, *token);
  Result<Response> answer = co_await (*opened)->stream(made, idle_timeout, on_data);
  if (is_cancelled(co_await asio::this_coro::cancellation_state)) co_return cancelled_error();
  observe(http::verb::get, answer ? answer->status : 0);
  if (!answer) co_return Error{"GET " + target + ": " + answer.error().message, answer.error().code};
  if (answer->status == 401) token_.refresh_after_unauthorized();
  co_return answer;
}

}  // namespace jarvis::kube
