#include "tls/tls_client_stream.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

#include <boost/asio/write.hpp>
#include <openssl/err.h>

#include "common/coro.hpp"
#include "tls/two_way_relay.hpp"

namespace jarvis::tls {

namespace asio = boost::asio;

namespace {

// What one read or write moves at most: a TLS record's payload.
constexpr int chunk = 16 * 1024;

// OpenSSL's socket BIO writes with write(): a server that has closed would kill the process with SIGPIPE. The
// connection writes through this one, send(MSG_NOSIGNAL) (EPIPE instead); it reads through OpenSSL's own.
int send_without_sigpipe(BIO* bio, const char* data, int length) {
  const int fd = static_cast<int>(reinterpret_cast<std::intptr_t>(BIO_get_data(bio)));
  BIO_clear_retry_flags(bio);
  const ssize_t sent = ::send(fd, data, static_cast<std::size_t>(length), MSG_NOSIGNAL);
  if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) BIO_set_retry_write(bio);
  return static_cast<int>(sent);
}

long write_control(BIO*, int command, long, void*) { return command == BIO_CTRL_FLUSH ? 1 : 0; }

int write_create(BIO* bio) {
  BIO_set_init(bio, 1);
  return 1;
}

// Made once, never changed after.
const BIO_METHOD* write_method() {
  static BIO_METHOD* const method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK | BIO_TYPE_DESCRIPTOR,
                                 "jarvis socket writer");
    if (m) {
      BIO_meth_set_write(m, send_without_sigpipe);
      BIO_meth_set_ctrl(m, write_control);
      BIO_meth_set_create(m, write_create);
    }
    return m;
  }();
  return method;
}

}  // namespace

Result<std::unique_ptr<TlsClientStream>> TlsClientStream::make(Socket socket,
                                                               std::shared_ptr<asio::ssl::context> context,
                                                               std::string_view server_name) {
  boost::system::error_code ec;
  socket.non_blocking(true, ec);  // OpenSSL reads and writes the descriptor itself
  if (ec) return Error{"cannot make the socket non-blocking: " + ec.message()};
  SSL* ssl = SSL_new(context->native_handle());
  if (!ssl) return Error{"OpenSSL cannot make a connection object"};
  const std::string name(server_name);
  BIO* writer = write_method() ? BIO_new(write_method()) : nullptr;
  if (writer) BIO_set_data(writer, reinterpret_cast<void*>(static_cast<std::intptr_t>(socket.native_handle())));
  if (!writer || SSL_set_rfd(ssl, socket.native_handle()) != 1 || SSL_set_tlsext_host_name(ssl, name.c_str()) != 1) {
    BIO_free(writer);
    SSL_free(ssl);
    return Error{"OpenSSL cannot set up the connection object"};
  }
  SSL_set0_wbio(ssl, writer);  // the SSL object owns it from here
  SSL_set_connect_state(ssl);
  std::unique_ptr<TlsClientStream> stream(new TlsClientStream(std::move(socket), std::move(context), ssl));
  SSL_set_app_data(ssl, stream.get());
  SSL_set_verify(ssl, SSL_get_verify_mode(ssl), on_verify);
  return stream;
}

int TlsClientStream::on_verify(int preverified, X509_STORE_CTX* context) {
  auto* ssl = static_cast<SSL*>(X509_STORE_CTX_get_ex_data(context, SSL_get_ex_data_X509_STORE_CTX_idx()));
  auto* stream = ssl ? static_cast<TlsClientStream*>(SSL_get_app_data(ssl)) : nullptr;
  if (stream && stream->server_certificate_.empty()) {
    if (X509* leaf = X509_STORE_CTX_get0_cert(context)) stream->server_certificate_ = describe_certificate(leaf);
  }
  return preverified;
}

TlsClientStream::TlsClientStream(Socket socket, std::shared_ptr<asio::ssl::context> context, SSL* ssl)
    : socket_(std::move(socket)), context_(std::move(context)), ssl_(ssl) {}

TlsClientStream::~TlsClientStream() {
  close();
  SSL_free(ssl_);
}

void TlsClientStream::close() {
  closed_ = true;
  boost::system::error_code ignored;
  socket_.close(ignored);
}

asio::awaitable<bool> TlsClientStream::wait_for(int ssl_error) {
  if (closed_) co_return false;
  const auto what = ssl_error == SSL_ERROR_WANT_WRITE ? Socket::wait_write : Socket::wait_read;
  auto [ec] = co_await socket_.async_wait(what, use_tuple);
  co_return !ec && !closed_;
}

asio::awaitable<std::optional<TlsClientStream::HandshakeFailure>> TlsClientStream::handshake() {
  for (;;) {
    if (closed_) co_return HandshakeFailure{{}, "the connection was closed"};
    ERR_clear_error();
    const int result = SSL_do_handshake(ssl_);
    if (result == 1) co_return std::nullopt;
    const int saved_errno = errno;
    const int error = SSL_get_error(ssl_, result);
    if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) {
      const bool ready = co_await wait_for(error);
      if (!ready) {
        ERR_clear_error();
        co_return HandshakeFailure{{.verify_result = SSL_get_verify_result(ssl_)},
                                   closed_ ? "the connection was closed" : "waiting on the socket failed"};
      }
      continue;
    }
    HandshakeFailure failure;
    failure.tls.verify_result = SSL_get_verify_result(ssl_);
    if (const unsigned long queued = ERR_get_error(); queued != 0) {
      failure.tls.ssl_error = queued;
    } else if (error == SSL_ERROR_ZERO_RETURN || (error == SSL_ERROR_SYSCALL && saved_errno == 0)) {
      failure.tls.end_of_stream = true;
    } else if (error == SSL_ERROR_SYSCALL) {
      failure.io_error = std::strerror(saved_errno);
    } else {
      failure.io_error = "OpenSSL error " + std::to_string(error);
    }
    ERR_clear_error();
    co_return failure;
  }
}

asio::awaitable<RelayEnd> TlsClientStream::server_to_local(LocalSocket& local,
                                                                         const OnRefused& refused) {
  std::unique_ptr<unsigned char[]> buffer;
  for (;;) {
    if (closed_) co_return RelayEnd::failed;
    if (!buffer) buffer = std::make_unique_for_overwrite<unsigned char[]>(chunk);
    ERR_clear_error();
    const int read = SSL_read(ssl_, buffer.get(), chunk);
    if (read > 0) {
      received_data_ = true;
      auto [ec, written] =
          co_await asio::async_write(local, asio::buffer(buffer.get(), static_cast<std::size_t>(read)), use_tuple);
      if (ec) co_return RelayEnd::failed;
      continue;
    }
    const int saved_errno = errno;
    const int error = SSL_get_error(ssl_, read);
    if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) {
      buffer.reset();  // nothing to move: hold no buffer while waiting
      const bool ready = co_await wait_for(error);
      if (!ready) co_return RelayEnd::failed;
      continue;
    }
    if (error == SSL_ERROR_SSL && !received_data_ && refused)
      refused(HandshakeFailure{{.ssl_error = ERR_peek_error(), .verify_result = SSL_get_verify_result(ssl_)}, {}});
    ERR_clear_error();
    if (error == SSL_ERROR_ZERO_RETURN || (error == SSL_ERROR_SYSCALL && saved_errno == 0)) {
      boost::system::error_code ignored;
      local.shutdown(LocalSocket::shutdown_send, ignored);
      co_return RelayEnd::end_of_stream;
    }
    co_return RelayEnd::failed;
  }
}

void TlsClientStream::send_close_notify() {
  // Best effort: the FIN that follows ends the stream anyway.
  ERR_clear_error();
  SSL_shutdown(ssl_);
  ERR_clear_error();
  boost::system::error_code ignored;
  socket_.shutdown(Socket::shutdown_send, ignored);
}

asio::awaitable<RelayEnd> TlsClientStream::local_to_server(LocalSocket& local) {
  for (;;) {
    auto [wait_ec] = co_await local.async_wait(LocalSocket::wait_read, use_tuple);
    if (wait_ec || closed_) co_return RelayEnd::failed;
    auto buffer = std::make_unique_for_overwrite<unsigned char[]>(chunk);
    boost::system::error_code ec;
    const std::size_t read = local.read_some(asio::buffer(buffer.get(), chunk), ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again) continue;
    if (ec == asio::error::eof) {
      send_close_notify();
      co_return RelayEnd::end_of_stream;
    }
    if (ec) co_return RelayEnd::failed;
    std::size_t sent = 0;
    while (sent < read) {
      if (closed_) co_return RelayEnd::failed;
      ERR_clear_error();
      // Repeated after a WANT_* with the same bytes, as OpenSSL requires.
      const int wrote = SSL_write(ssl_, buffer.get() + sent, static_cast<int>(read - sent));
      if (wrote > 0) {
        sent += static_cast<std::size_t>(wrote);
        continue;
      }
      const int error = SSL_get_error(ssl_, wrote);
      ERR_clear_error();
      if (error != SSL_ERROR_WANT_READ && error != SSL_ERROR_WANT_WRITE) co_return RelayEnd::failed;
      const bool ready = co_await wait_for(error);
      if (!ready) co_return RelayEnd::failed;
    }
  }
}

asio::awaitable<void> TlsClientStream::relay(LocalSocket& local, std::chrono::steady_clock::duration linger,
                                             OnRefused refused) {
  boost::system::error_code ignored;
  local.non_blocking(true, ignored);
  co_await relay_both_ways(server_to_local(local, refused), local_to_server(local),
                           [&] {
                             close();
                             local.close(ignored);
                           },
                           linger);
}

}  // namespace jarvis::tls
