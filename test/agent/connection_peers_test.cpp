// ConnectionPeers: the TLS front's record of who is behind each socket it hands to gRPC.
#include <catch2/catch.hpp>

#include "agent/connection_peers.hpp"

using jarvis::agent::ConnectionPeers;

TEST_CASE("the service finds the client behind gRPC's fd peer", "[agent]") {
  ConnectionPeers peers;
  peers.add(7, 1, {"127.0.0.1:40312", "jarvis-controller"});
  const auto found = peers.find("fd:7");
  REQUIRE(found);
  CHECK(found->address == "127.0.0.1:40312");
  CHECK(found->common_name == "jarvis-controller");
  CHECK_FALSE(peers.find("fd:8"));
  CHECK_FALSE(peers.find("ipv4:127.0.0.1:40312"));  // --insecure: gRPC's own peer, not ours
  CHECK_FALSE(peers.find("fd:"));
}

TEST_CASE("a closed connection's entry does not remove a newer one that got the same fd number", "[agent]") {
  ConnectionPeers peers;
  peers.add(7, 1, {"127.0.0.1:1", "jarvis-controller"});
  peers.add(7, 2, {"127.0.0.1:2", "jarvis-controller"});  // gRPC closed fd 7, a new connection got it
  peers.remove(7, 1);
  REQUIRE(peers.find("fd:7"));
  CHECK(peers.find("fd:7")->address == "127.0.0.1:2");
  peers.remove(7, 2);
  CHECK_FALSE(peers.find("fd:7"));
}
