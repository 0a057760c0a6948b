// Who is on the other end of each connection the TLS front hands to the gRPC server. The gRPC server only sees
// a local socket (its peer() reads "fd:N", and it has no auth context): the front records, per socket it hands
// over, the client's address and the common name of its verified certificate, and the service looks them up
// for its audit lines. Thread-safe (the front writes on the agent's executor, gRPC reads on its threads).
#pragma once

#include <charconv>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace jarvis::agent {

class ConnectionPeers {
 public:
  struct Peer {
    std::string address;      // the client's host:port
    std::string common_name;  // of its verified certificate
  };

  // `fd` is the socket gRPC got for connection `connection` (a number the front never reuses).
  void add(int fd, std::uint64_t connection, Peer peer) {
    std::lock_guard lock(mu_);
    peers_[fd] = Entry{connection, std::move(peer)};
  }

  // Forgets connection's entry; a newer connection that got the same fd number keeps its own.
  void remove(int fd, std::uint64_t connection) {
    std::lock_guard lock(mu_);
    if (auto it = peers_.find(fd); it != peers_.end() && it->second.connection == connection) peers_.erase(it);
  }

  // The peer behind gRPC's peer string ("fd:N" for a connection the front handed over), if known.
  std::optional<Peer> find(std::string_view grpc_peer) const {
    constexpr std::string_view prefix = "fd:";
    if (!grpc_peer.starts_with(prefix)) return std::nullopt;
    int fd = -1;
    const auto digits = grpc_peer.substr(prefix.size());
    if (std::from_chars(digits.data(), digits.data() + digits.size(), fd).ec != std::errc{}) return std::nullopt;
    std::lock_guard lock(mu_);
    if (auto it = peers_.find(fd); it != peers_.end()) return it->second.peer;
    return std::nullopt;
  }

 private:
  struct Entry {
    std::uint64_t connection = 0;
    Peer peer;
  };
  mutable std::mutex mu_;
  std::unordered_map<int, Entry> peers_;
};

}  // namespace jarvis::agent
