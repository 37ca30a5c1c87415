#include <catch2/catch.hpp>

#include <filesystem>
#include <optional>
#include <random>

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
