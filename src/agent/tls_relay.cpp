#include "agent/tls_relay.hpp"

#include <array>

#include <boost/asio/ssl/error.hpp>
#include <boost/asio/write.hpp>

#include "common/coro.hpp"
#include "tls/two_way_relay.hpp"

namespace jarvis::agent {

namespace {

bool end_of_stream(const boost::system::error_code& ec) {
  return ec == asio::error::eof || ec == asio::ssl::error::stream_truncated;
}

template <typename From, typename To, typename HalfClose>
asio::awaitable<tls::RelayEnd> copy(From& from, To& to, HalfClose half_close) {
  std::array<unsigned char, 16 * 1024> buffer;
  for (;;) {
    auto [read_ec, read] = co_await from.async_read_some(asio::buffer(buffer), use_tuple);
    if (read_ec) {
      if (!end_of_stream(read_ec)) co_return tls::RelayEnd::failed;
      half_close();
      co_return tls::RelayEnd::end_of_stream;
    }
    auto [write_ec, written] = co_await asio::async_write(to, asio::buffer(buffer.data(), read), use_tuple);
    if (write_ec) co_return tls::RelayEnd::failed;
  }
}

}  // namespace

asio::awaitable<void> relay(TlsStream& tls, LocalSocket& local, std::chrono::steady_clock::duration linger) {
  boost::system::error_code ignored;
  co_await tls::relay_both_ways(
      copy(tls, local, [&] { local.shutdown(LocalSocket::shutdown_send, ignored); }),
      copy(local, tls, [&] { tls.next_layer().shutdown(asio::socket_base::shutdown_send, ignored); }),
      [&] {
        tls.next_layer().close(ignored);
        local.close(ignored);
      },
      linger);
}

}  // namespace jarvis::agent
