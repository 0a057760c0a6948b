#include "controller/agent_connector.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <optional>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>
#include <grpcpp/create_channel_posix.h>
#include <grpcpp/support/channel_arguments.h>
#include <grpcpp/support/status.h>

#include "common/coro.hpp"
#include "tls/handshake_refusal.hpp"
#include "tls/identities.hpp"
#include "tls/tls_client_stream.hpp"

namespace jarvis::controller {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

// How long the second direction of a relayed connection may stay open once the first has ended.
constexpr std::chrono::seconds relay_linger{10};

constexpr int unavailable = static_cast<int>(grpc::StatusCode::UNAVAILABLE);
constexpr int deadline_exceeded = static_cast<int>(grpc::StatusCode::DEADLINE_EXCEEDED);

struct HostPort {
  std::string host;
  unsigned short port = 0;
};

// "host:port" or "[v6]:port".
std::optional<HostPort> split(const std::string& address) {
  const auto colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == address.size()) return std::nullopt;
  HostPort result;
  result.host = address.substr(0, colon);
  if (result.host.size() >= 2 && result.host.front() == '[' && result.host.back() == ']')
    result.host = result.host.substr(1, result.host.size() - 2);
  const char* first = address.data() + colon + 1;
  const char* last = address.data() + address.size();
  if (auto [end, ec] = std::from_chars(first, last, result.port); ec != std::errc{} || end != last) return std::nullopt;
  return result;
}

grpc::ChannelArguments channel_arguments(const AgentKeepalive& keepalive) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(AgentConnector::max_response_bytes);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, static_cast<int>(keepalive.time.count()));
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, static_cast<int>(keepalive.timeout.count()));
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  // A long Wait sends no data: without this gRPC stops pinging after two pings and a dead agent goes unseen.
  args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  return args;
}

int whole_seconds_at_least_one(std::chrono::milliseconds duration) {
  return static_cast<int>(std::max<std::chrono::milliseconds::rep>(1, (duration.count() + 999) / 1000));
}

// Keepalive probes on the agent's TCP socket; best effort (a socket that refuses them still works).
void enable_tcp_keepalive(tcp::socket& socket, const AgentKeepalive& keepalive) {
  const int fd = socket.native_handle();
  const int on = 1;
  const int idle = whole_seconds_at_least_one(keepalive.time);
  const int interval = whole_seconds_at_least_one(keepalive.timeout / AgentKeepalive::probes);
  const int count = AgentKeepalive::probes;
  ::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof interval);
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count);
}

}  // namespace

// A TLS connection and the local socket whose other end gRPC reads, relayed.
struct AgentConnector::Link {
  Link(std::uint64_t id, std::string agent, std::unique_ptr<tls::TlsClientStream> stream,
       asio::local::stream_protocol::socket local)
      : id(id), agent(std::move(agent)), stream(std::move(stream)), local(std::move(local)) {}
  void close() {
    stream->close();
    boost::system::error_code ignored;
    local.close(ignored);
  }
  std::uint64_t id;
  std::string agent;
  std::unique_ptr<tls::TlsClientStream> stream;
  asio::local::stream_protocol::socket local;
  std::shared_ptr<ConnectionState> state = std::make_shared<ConnectionState>();
};

// One connection attempt's sockets, shared with its deadline's handler (which may run after connect() returned).
struct AgentConnector::Attempt {
  explicit Attempt(const asio::any_io_executor& executor) : resolver(executor), socket(executor), deadline(executor) {}
  void cut() {
    timed_out = true;
    resolver.cancel();
    boost::system::error_code ignored;
    socket.close(ignored);
    if (stream) stream->close();
  }
  tcp::resolver resolver;
  tcp::socket socket;
  asio::steady_timer deadline;
  std::unique_ptr<tls::TlsClientStream> stream;
  bool timed_out = false;
};

AgentConnector::AgentConnector(asio::any_io_executor executor, Logger& log, tls::TransportSecurity security,
                               OnRefused on_refused, AgentKeepalive keepalive)
    : executor_(std::move(executor)),
      log_(log),
      security_(std::move(security)),
      on_refused_(std::move(on_refused)),
      keepalive_(keepalive),
      context_(security_.directory, tls::TlsSide::controller_client) {}

AgentConnector::~AgentConnector() { close_all(); }

void AgentConnector::refresh_context() {
  // A thousand connections at once must not each stat the three files.
  const auto now = std::chrono::steady_clock::now();
  if (now < next_refresh_) return;
  next_refresh_ = now + std::chrono::seconds(std::max(security_.refresh_interval_seconds, 1u));
  const auto refreshed = context_.refresh();
  if (refreshed.reloaded) log_.info("TLS files loaded for new agent connections", {{"tls_dir", security_.directory}});
  if (refreshed.failed)
    log_.warn("TLS files cannot be used; the last usable ones stay in use",
              {{"tls_dir", security_.directory}, {"error", *refreshed.failed}});
}

Status AgentConnector::prepare() {
  if (security_.insecure) return Ok{};
  if (!context_.current()) next_refresh_ = {};  // until the files are usable, every call looks
  refresh_context();
  if (context_.current()) return Ok{};
  return Error{"the controller's TLS files are not ready: " + context_.not_ready(tls::Clock::now()).value_or("")};
}

void AgentConnector::close_all() {
  for (auto& [id, weak] : *links_) {
    if (auto link = weak.lock()) link->close();
  }
}

asio::awaitable<Result<AgentConnector::Connection>> AgentConnector::connect(std::string address,
                                                                             std::chrono::milliseconds deadline) {
  const auto target = split(address);
  if (!target) co_return Error{"cannot connect: " + address + " is not host:port", unavailable};
  auto attempt = std::make_shared<Attempt>(executor_);
  attempt->deadline.expires_after(deadline);
  attempt->deadline.async_wait([attempt](const boost::system::error_code& ec) {
    if (!ec) attempt->cut();
  });
  // Stops the deadline on every way out; its handler holds the attempt until it has run.
  struct StopDeadline {
    Attempt& attempt;
    ~StopDeadline() { attempt.deadline.cancel(); }
  } stop_deadline{*attempt};
  const auto timed_out = [&](std::string_view what) {
    return Error{std::string(what) + " took longer than " + std::to_string(deadline.count()) + " ms",
                 deadline_exceeded};
  };

  std::vector<tcp::endpoint> endpoints;
  boost::system::error_code literal_ec;
  const auto literal = asio::ip::make_address(target->host, literal_ec);
  if (!literal_ec) {
    endpoints.emplace_back(literal, target->port);
  } else {
    auto [ec, results] =
        co_await attempt->resolver.async_resolve(target->host, std::to_string(target->port), use_tuple);
    if (attempt->timed_out) co_return timed_out("resolving " + target->host);
    if (ec) co_return Error{"cannot resolve " + target->host + ": " + ec.message(), unavailable};
    for (const auto& entry : results) endpoints.push_back(entry.endpoint());
  }
  auto [connect_ec, endpoint] = co_await asio::async_connect(attempt->socket, endpoints, use_tuple);
  if (attempt->timed_out) co_return timed_out("connecting");
  if (connect_ec) co_return Error{"cannot connect: " + connect_ec.message(), unavailable};
  boost::system::error_code ignored;
  attempt->socket.set_option(tcp::no_delay(true), ignored);
  enable_tcp_keepalive(attempt->socket, keepalive_);

  if (security_.insecure) {
    const int fd = attempt->socket.release(ignored);
    if (ignored) co_return Error{"cannot hand the connection to gRPC: " + ignored.message(), unavailable};
    auto channel_args = channel_arguments(keepalive_);
    co_return Connection{grpc::CreateCustomInsecureChannelFromFd(address, fd, channel_args),
                         std::make_shared<ConnectionState>()};
  }

  refresh_context();
  auto context = context_.current();
  if (!context) co_return Error{"TLS handshake not started: the controller's TLS files are not usable", unavailable};
  auto stream = tls::TlsClientStream::make(std::move(attempt->socket), std::move(context), tls::agent_identity);
  if (!stream) co_return Error{"TLS handshake not started: " + stream.error().message, unavailable};
  attempt->stream = std::move(*stream);
  const auto failure = co_await attempt->stream->handshake();
  if (attempt->timed_out) co_return timed_out("the TLS handshake");
  if (failure)
    co_return Error{refused(on_refused_, *failure, *attempt->stream, address), unavailable, ErrorKind::tls_handshake};

  int pair[2] = {-1, -1};
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, pair) != 0)
    co_return Error{std::string("cannot make a socket pair for the connection: ") + std::strerror(errno), unavailable};
  asio::local::stream_protocol::socket local(executor_);
  local.assign(asio::local::stream_protocol(), pair[1], ignored);
  if (ignored) {
    ::close(pair[0]);
    ::close(pair[1]);
    co_return Error{"cannot relay the connection: " + ignored.message(), unavailable};
  }
  auto link = std::make_shared<Link>(next_link_++, address, std::move(attempt->stream), std::move(local));
  links_->emplace(link->id, link);
  auto channel_args = channel_arguments(keepalive_);
  // gRPC owns pair[0] from here.
  Connection connection{grpc::CreateCustomInsecureChannelFromFd(address, pair[0], channel_args), link->state};
  // The handler holds the map, not the connector: a relay may end after the connector is gone.
  auto on_end = [links = links_, link, &log = log_](std::exception_ptr failure) {
    link->state->ended = true;
    links->erase(link->id);
    link->close();
    if (failure && !stopped_by_cancellation(failure))
      log.error("relaying an agent connection failed inside the controller",
                {{"agent", link->agent}, {"error", jarvis::describe(failure)}});
  };
  asio::co_spawn(executor_, relay(link, log_, on_refused_), std::move(on_end));
  co_return connection;
}

std::string AgentConnector::refused(const OnRefused& on_refused,
                                    const tls::TlsClientStream::HandshakeFailure& failure,
                                    const tls::TlsClientStream& stream, std::string_view agent) {
  std::string_view reason = tls::refusal_reason(failure.tls);
  if (reason == tls::refusal::client_refused_us) reason = tls::refusal::agent_refused_us;
  std::string detail = failure.io_error.empty() ? tls::refusal_detail(failure.tls) : failure.io_error;
  if (reason == tls::refusal::wrong_identity)
    detail += "; the certificate must name " + std::string(tls::agent_identity) + " as a DNS name";
  if (!stream.server_certificate().empty()) detail += " (agent certificate: " + stream.server_certificate() + ")";
  if (on_refused) on_refused(reason, detail, agent);
  return "TLS handshake failed: " + std::string(reason) + ": " + detail;
}

asio::awaitable<void> AgentConnector::relay(std::shared_ptr<Link> link, Logger& log, OnRefused on_refused) {
  // Link outlives the relay (this frame holds it); the callback runs inside it.
  co_await link->stream->relay(link->local, relay_linger,
                               [&](const tls::TlsClientStream::HandshakeFailure& failure) {
                                 link->state->refusal = refused(on_refused, failure, *link->stream, link->agent);
                               });
  log.debug("agent connection closed", {{"agent", link->agent}});
}

}  // namespace jarvis::controller
