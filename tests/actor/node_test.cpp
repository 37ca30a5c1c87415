#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <optional>
#include <random>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scheduler/test_coordinator.hpp>

#include "actors/node.hpp"

using namespace ferro;

namespace {

/// One node on CAF's test coordinator: every actor runs when the test says
/// so, and nothing waits on real time.
struct node_under_test {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  caf::scheduler::test_coordinator* sched = nullptr;
  std::unique_ptr<node> n;

  explicit node_under_test(const std::filesystem::path& dir) {
    node_settings s;
    s.data_dir = dir;
    s.insert_threads = 1;
    s.detached_io = false;
    s.ns.seed = 5;
    s.ns.clock = [] { return std::int64_t{1'700'000'000'000}; };
    configure_actor_system(cfg, s);
    cfg.set("scheduler.policy", caf::atom("testing"));
    sys = std::make_unique<caf::actor_system>(cfg);
    sched = &dynamic_cast<caf::scheduler::test_coordinator&>(sys->scheduler());
    n = std::make_unique<node>(s, *sys);
  }

  /// Runs jobs and fires timers (the group commit's) until `done` holds.
  template <class Pred>
  bool run_until(Pred done) {
    for (int round = 0; round < 200 && !done(); ++round) {
      sched->run();
      if (!done())
        sched->advance_time(std::chrono::milliseconds(1));
    }
    return done();
  }

  void stop() {
    bool stopped = false;
    n->stop([&] { stopped = true; });
    REQUIRE(run_until([&] { return stopped; }));
    sched->run();
  }
};

insert_request insert_of(const std::string& text, std::vector<float> v) {
  insert_request r;
  r.ns = {"model", "", ""};
  r.embedding = std::move(v);
  r.response = "answer to " + text;
  r.query_text = text;
  return r;
}

} // namespace

TEST_CASE("a node on an injected test coordinator serves, stops without blocking and recovers", "[node]") {
  auto dir =
      std::filesystem::temp_directory_path() / ("ferro-node-" + std::to_string(std::random_device{}()));
  std::string id;
  {
    node_under_test t{dir};
    REQUIRE(t.n->start().ok());
    std::optional<result<insert_reply>> inserted;
    t.n->insert(insert_of("first", {1.0f, 0.0f, 0.0f}),
                [&](result<insert_reply> r) { inserted = std::move(r); });
    REQUIRE(t.run_until([&] { return inserted.has_value(); }));
    REQUIRE(inserted->ok());
    id = inserted->value().id;
    t.stop();
    // Stopped: every request is refused, none is lost in a dead mailbox.
    std::optional<result<insert_reply>> refused;
    t.n->insert(insert_of("late", {0.0f, 1.0f, 0.0f}),
                [&](result<insert_reply> r) { refused = std::move(r); });
    REQUIRE(refused.has_value());
    CHECK_FALSE(refused->ok());
  }
  {
    node_under_test t{dir};
    REQUIRE(t.n->start().ok());
    std::optional<result<query_reply>> answer;
    query_request q;
    q.ns = {"model", "", ""};
    q.embedding = {1.0f, 0.01f, 0.0f};
    q.threshold = 0.9;
    t.n->query(q, [&](result<query_reply> r) { answer = std::move(r); });
    REQUIRE(answer.has_value());
    REQUIRE(answer->ok());
    CHECK(answer->value().hit);
    CHECK(answer->value().id == id);
    t.stop();
  }
  std::filesystem::remove_all(dir);
}

namespace {

bool has_key(const std::vector<namespace_key>& keys, const namespace_key& k) {
  return std::find(keys.begin(), keys.end(), k) != keys.end();
}

} // namespace

TEST_CASE("a node lists the namespaces it holds and which of them hold an id", "[node]") {
  auto dir =
      std::filesystem::temp_directory_path() / ("ferro-node-" + std::to_string(std::random_device{}()));
  namespace_key global{"model", "", ""};
  namespace_key tenant{"model", "acme", ""};
  namespace_key other{"model", "other", ""};
  std::string in_global, shared_id = "shared-id";
  {
    node_under_test t{dir};
    REQUIRE(t.n->start().ok());
    CHECK(t.n->local_namespaces().empty());
    auto insert = [&](insert_request req) {
      std::optional<result<insert_reply>> r;
      t.n->insert(std::move(req), [&](result<insert_reply> x) { r = std::move(x); });
      REQUIRE(t.run_until([&] { return r.has_value(); }));
      REQUIRE(r->ok());
      return r->value().id;
    };
    in_global = insert(insert_of("first", {1.0f, 0.0f, 0.0f}));
    auto a = insert_of("second", {0.0f, 1.0f, 0.0f});
    a.ns = tenant;
    a.uuid = shared_id;
    insert(a);
    auto b = insert_of("third", {0.0f, 0.0f, 1.0f});
    b.uuid = shared_id;
    insert(b); // the same id in the global namespace too

    auto keys = t.n->local_namespaces();
    CHECK(keys.size() == 2);
    CHECK(has_key(keys, global));
    CHECK(has_key(keys, tenant));
    CHECK_FALSE(has_key(keys, other));
    for (const auto& k : {global, tenant, other})
      CHECK(t.n->has_namespace(k) == has_key(keys, k));
    CHECK(t.n->holders_of(in_global) == std::vector<namespace_key>{global});
    auto holders = t.n->holders_of(shared_id);
    CHECK(holders.size() == 2);
    CHECK(has_key(holders, global));
    CHECK(has_key(holders, tenant));
    CHECK(t.n->holders_of("no-such-id").empty());

    // A delete removes the id from every namespace holding it.
    std::optional<result<delete_reply>> removed;
    delete_request del;
    del.uuid = shared_id;
    t.n->remove(del, [&](result<delete_reply> r) { removed = std::move(r); });
    REQUIRE(t.run_until([&] { return removed.has_value(); }));
    REQUIRE(removed->ok());
    CHECK(removed->value().deleted);
    CHECK(t.n->holders_of(shared_id).empty());
    CHECK(t.n->holders_of(in_global) == std::vector<namespace_key>{global});
    t.stop();
  }
  {
    // After a restart the recovered namespaces are listed again.
    node_under_test t{dir};
    REQUIRE(t.n->start().ok());
    auto keys = t.n->local_namespaces();
    CHECK(has_key(keys, global));
    CHECK(t.n->holders_of(in_global) == std::vector<namespace_key>{global});
    CHECK(t.n->holders_of(shared_id).empty());
    t.stop();
  }
  std::filesystem::remove_all(dir);
}
