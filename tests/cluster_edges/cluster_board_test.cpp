// The board the cluster actor publishes for the I/O threads: a namespace's
// line can be replaced alone, a copy serves only while the read lease
// holds (judged when asked, not when published), and the status counts
// the lines when it is read.

#include <catch2/catch.hpp>

#include <cstdint>
#include <utility>
#include <vector>

#include "cluster/edges/cluster_board.hpp"

using namespace ferro;
using namespace ferro::cluster;

namespace {

board_entry line(const std::string& name, bool serves, bool leads = false, bool under = false) {
  board_entry e;
  e.name = name;
  e.shown.role = leads ? "primary" : "replica";
  e.serves = serves;
  e.leads = leads;
  e.under_replicated = under;
  e.behind = !serves && !leads;
  return e;
}

struct fixture {
  std::int64_t now = 1000;
  cluster_board board;
  namespace_key a{"m", "a", ""}, b{"m", "b", ""}, c{"m", "c", ""};
  fixture() {
    board.clock = [this] { return now; };
  }
};

} // namespace

TEST_CASE("board: a copy serves only while its role allows it and the lease holds", "[board]") {
  fixture f;
  std::vector<std::pair<namespace_key, board_entry>> lines;
  lines.emplace_back(f.a, line("a", true, true));
  lines.emplace_back(f.b, line("b", false));
  f.board.publish_all(cluster_status_reply{}, 1500, std::move(lines));
  CHECK(f.board.servable(f.a));
  CHECK_FALSE(f.board.servable(f.b));
  CHECK_FALSE(f.board.servable(f.c)); // never published
  CHECK(f.board.behind(f.b));
  CHECK_FALSE(f.board.behind(f.a));
  // The lease runs out between two publications: nothing serves, and the
  // status says so, though no line changed.
  f.now = 1500;
  CHECK_FALSE(f.board.servable(f.a));
  auto st = f.board.status();
  CHECK_FALSE(st.read_lease);
  CHECK_FALSE(st.namespaces.at("a").serving);
  f.board.publish_lease(2000);
  CHECK(f.board.servable(f.a));
  CHECK(f.board.status().namespaces.at("a").serving);
}

TEST_CASE("board: one line replaced alone leaves the others as they were", "[board]") {
  fixture f;
  std::vector<std::pair<namespace_key, board_entry>> lines;
  lines.emplace_back(f.a, line("a", true, true, true));
  lines.emplace_back(f.b, line("b", true));
  f.board.publish_all(cluster_status_reply{}, 5000, std::move(lines));
  auto before = f.board.status();
  CHECK(before.primary_namespaces == 1);
  CHECK(before.under_replicated_namespaces == 1);

  f.board.publish_entry(f.b, line("b", false)); // b's leader stopped vouching for it
  CHECK(f.board.servable(f.a));
  CHECK_FALSE(f.board.servable(f.b));
  f.board.publish_entry(f.c, line("c", true, true)); // a new namespace led here
  auto after = f.board.status();
  CHECK(after.namespaces.size() == 3);
  CHECK(after.primary_namespaces == 2);
  CHECK(after.under_replicated_namespaces == 1);
  CHECK_FALSE(after.namespaces.at("b").serving);
  CHECK(after.namespaces.at("c").serving);
}

TEST_CASE("board: the node-wide part is replaced whole, the lines are kept", "[board]") {
  fixture f;
  cluster_status_reply header;
  header.nodes = {"n1", "n2"};
  header.namespaces["stale"] = namespace_cluster_state{}; // ignored: lines come one by one
  std::vector<std::pair<namespace_key, board_entry>> lines;
  lines.emplace_back(f.a, line("a", true));
  f.board.publish_all(header, 5000, std::move(lines));
  header.nodes = {"n1", "n2", "n3"};
  f.board.publish_all(header, 5000, {});
  auto st = f.board.status();
  CHECK(st.nodes.size() == 3);
  CHECK(st.namespaces.count("stale") == 0);
  CHECK(st.namespaces.count("a") == 1);
}
