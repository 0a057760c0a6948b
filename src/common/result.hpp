// Result<T>: a value or an Error. Expected failures (a refused connection, a 409, a missing field) travel
// as values; exceptions are kept for bugs.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace jarvis {

// What went wrong, where a caller must tell failures apart beyond their code: decisions are made on the kind,
// never on the message, which is for people and may be reworded.
enum class ErrorKind {
  unspecified,
  tls_handshake,  // the TLS handshake with a peer failed (an unknown CA, a wrong identity, an expired certificate)
};

struct Error {
  std::string message;  // one line, names the object and, where possible, the fix
  int code = 0;         // optional machine-readable code (HTTP status, gRPC status, errno); 0 = none
  ErrorKind kind = ErrorKind::unspecified;
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}
  Result(Error error) : v_(std::move(error)) {}

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

// For operations that return nothing on success.
struct Ok {};
using Status = Result<Ok>;

}  // namespace jarvis
