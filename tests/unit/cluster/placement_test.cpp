#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "cluster/placement.hpp"
#include "cluster/stable_hash.hpp"

using namespace ferro::cluster;
using ferro::namespace_key;

namespace {

// prefix + decimal i, without `"literal" + std::to_string(i)` (a GCC 12
// -Wrestrict false positive at -O2).
std::string cat(std::string prefix, std::size_t i) {
  prefix += std::to_string(i);
  return prefix;
}

std::vector<std::string> sample_keys(std::size_t n) {
  std::vector<std::string> keys;
  keys.reserve(n);
  for (std::size_t i = 0; i < n; ++i)
    keys.push_back(placement_key(namespace_key{cat("model-", i % 7), cat("tenant-", i), ""}));
  return keys;
}

hash_ring ring_of(std::vector<std::string> nodes, std::uint64_t epoch = 1) {
  return hash_ring{placement_table{epoch, std::move(nodes)}};
}

} // namespace

TEST_CASE("the placement hash is FNV-1a 64 followed by the splitmix64 finaliser") {
  // Published FNV-1a 64 vectors.
  static_assert(fnv1a_64("") == 0xcbf29ce484222325ULL);
  static_assert(fnv1a_64("a") == 0xaf63dc4c8601ec8cULL);
  static_assert(fnv1a_64("foobar") == 0x85944171f73967e8ULL);
  // The full hash, computed once by an independent implementation.
  CHECK(stable_hash("") == 0xf52a15e9a9b5e89bULL);
  CHECK(stable_hash("a") == 0x02c0bdbf481420f8ULL);
  CHECK(stable_hash("foobar") == 0x404da9e3b74078c2ULL);
  CHECK(stable_hash("node-1") == 0x13950d4ef307e655ULL);
  CHECK(stable_hash(std::string_view("\x00\x01\x02", 3)) == 0x80bde933ab520ee3ULL);
}

TEST_CASE("replicas do not depend on the order or repetition of the node list") {
  auto a = ring_of({"n1", "n2", "n3", "n4"});
  auto b = ring_of({"n4", "n2", "n1", "n3", "n2"});
  CHECK(a.nodes() == b.nodes());
  for (const auto& key : sample_keys(2000))
    for (std::size_t rf = 1; rf <= 4; ++rf)
      REQUIRE(a.replicas_for(key, rf) == b.replicas_for(key, rf));
}

TEST_CASE("replicas are distinct and as many as asked, up to the node count") {
  auto ring = ring_of({"n1", "n2", "n3", "n4", "n5"});
  for (const auto& key : sample_keys(500)) {
    for (std::size_t rf = 0; rf <= 7; ++rf) {
      auto r = ring.replicas_for(key, rf);
      REQUIRE(r.size() == std::min<std::size_t>(rf, 5));
      REQUIRE(std::set<std::string>(r.begin(), r.end()).size() == r.size());
    }
    // A larger replica set extends a smaller one: the primary stays first.
    auto three = ring.replicas_for(key, 3);
    auto five = ring.replicas_for(key, 5);
    REQUIRE(std::equal(three.begin(), three.end(), five.begin()));
    REQUIRE(ring.primary_for(key) == three.front());
  }
}

TEST_CASE("an empty ring places nothing") {
  auto ring = ring_of({});
  CHECK(ring.replicas_for("k", 3).empty());
  CHECK(ring.primary_for("k").empty());
}

TEST_CASE("a fourth node takes about a quarter of the primaries, all from the old nodes") {
  auto keys = sample_keys(10000);
  auto before = ring_of({"n1", "n2", "n3"});
  auto after = ring_of({"n1", "n2", "n3", "n4"}, 2);
  std::size_t moved = 0;
  for (const auto& key : keys) {
    auto old_primary = before.primary_for(key);
    auto new_primary = after.primary_for(key);
    if (old_primary != new_primary) {
      ++moved;
      // A key moves only to the new node, never between two old ones.
      REQUIRE(new_primary == "n4");
    }
  }
  double fraction = static_cast<double>(moved) / static_cast<double>(keys.size());
  CAPTURE(fraction);
  CHECK(fraction > 0.15);
  CHECK(fraction < 0.35);
}

TEST_CASE("removing a node moves only the keys that node was primary for") {
  auto keys = sample_keys(10000);
  auto before = ring_of({"n1", "n2", "n3", "n4"});
  auto after = ring_of({"n1", "n2", "n4"});
  std::size_t orphaned = 0;
  for (const auto& key : keys) {
    auto old_primary = before.primary_for(key);
    auto new_primary = after.primary_for(key);
    if (old_primary == "n3") {
      ++orphaned;
      REQUIRE(new_primary != "n3");
    } else {
      REQUIRE(new_primary == old_primary);
    }
  }
  CHECK(orphaned > 0);
}

TEST_CASE("primaries spread within 35 percent of an even share with 64 virtual nodes") {
  auto keys = sample_keys(10000);
  for (std::size_t n : {3, 5, 8}) {
    std::vector<std::string> nodes;
    for (std::size_t i = 1; i <= n; ++i)
      nodes.push_back(cat("node-", i));
    auto ring = ring_of(nodes);
    std::map<std::string, std::size_t> count;
    for (const auto& key : keys)
      ++count[ring.primary_for(key)];
    REQUIRE(count.size() == n);
    double even = static_cast<double>(keys.size()) / static_cast<double>(n);
    for (const auto& [node, c] : count) {
      CAPTURE(n, node, c, even);
      CHECK(static_cast<double>(c) > 0.65 * even);
      CHECK(static_cast<double>(c) < 1.35 * even);
    }
  }
}

TEST_CASE("a conversation namespace is placed with its base namespace") {
  namespace_key base{"gpt-x", "tenant-a", ""};
  namespace_key conv{"gpt-x", "tenant-a", "conversation-17"};
  CHECK(placement_key(conv) == placement_key(base));
  CHECK(placement_key(base) == ferro::encode_key(base));
  auto ring = ring_of({"n1", "n2", "n3", "n4", "n5"});
  CHECK(ring.replicas_for(placement_key(conv), 2) == ring.replicas_for(placement_key(base), 2));
  // Another scope is another namespace with its own placement key.
  CHECK(placement_key({"gpt-x", "tenant-b", "conversation-17"}) != placement_key(base));
}

TEST_CASE("virtual node positions hash the node id and a fixed-width index") {
  CHECK(vnode_point("n1", 0) != vnode_point("n1", 1));
  CHECK(vnode_point("n1", 0) == stable_hash(std::string_view("n1\0\0\0\0\0\0\0\0", 10)));
  CHECK(vnode_point("n1", 258) == stable_hash(std::string_view("n1\x02\x01\0\0\0\0\0\0", 10)));
}
