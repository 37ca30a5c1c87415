#include <catch2/catch.hpp>

#include "index/log_apply.hpp"
#include "index_test_support.hpp"
#include "quality/calibration.hpp"
#include "quality/text_features.hpp"

using namespace ferro;
using namespace ferro::test;

namespace {

log_record insert_record(std::uint64_t seq, cache_entry e) {
  log_record r;
  r.op = log_op::insert;
  r.ns_seq = seq;
  r.entry = std::move(e);
  return r;
}

log_record remove_record(std::uint64_t seq, std::string uuid, removal_reason why = removal_reason::deleted) {
  log_record r;
  r.op = log_op::remove;
  r.ns_seq = seq;
  r.uuid = std::move(uuid);
  r.reason = why;
  return r;
}

log_record feedback_record(std::uint64_t seq, std::string uuid, double similarity, bool correct,
                           std::uint8_t cls) {
  log_record r;
  r.op = log_op::feedback;
  r.ns_seq = seq;
  r.uuid = std::move(uuid);
  r.feedback = feedback_fields{similarity, correct, cls, "some query"};
  return r;
}

log_record void_record(std::uint64_t seq) {
  log_record r;
  r.op = log_op::void_;
  r.ns_seq = seq;
  return r;
}

} // namespace

TEST_CASE("applying a log takes every record into effect in log order", "[log_apply]") {
  auto seed = test_seed(11);
  CAPTURE(seed);
  std::mt19937_64 rng(seed);
  auto entries = distinct_entries(rng, 6, 8, "e");
  namespace_index index(8, small_graph());
  std::vector<log_record> log;
  log.push_back(insert_record(1, entries[0]));
  log.push_back(insert_record(2, entries[1]));
  log.push_back(remove_record(3, "e0"));
  log.push_back(insert_record(4, entries[0])); // re-inserted after its removal: stays
  log.push_back(void_record(5));
  log.push_back(remove_record(6, "e1", removal_reason::expired));
  log.push_back(remove_record(7, "never-there"));
  log.push_back(insert_record(8, entries[2]));
  auto out = apply_log(index, log);
  CHECK(index.contains("e0"));
  CHECK_FALSE(index.contains("e1"));
  CHECK(index.contains("e2"));
  CHECK(out.last_seq == 8);
  CHECK(out.inserts == 4);
  CHECK(out.removals[static_cast<std::size_t>(removal_reason::deleted) - 1] == 1);
  CHECK(out.removals[static_cast<std::size_t>(removal_reason::expired) - 1] == 1);
  CHECK(out.removed == std::vector<bool>{false, false, true, false, false, true, false, false});
  for (const auto& r : out.results)
    CHECK(r.ok());
}

TEST_CASE("an insert the index refuses is reported for that record alone", "[log_apply]") {
  auto seed = test_seed(12);
  CAPTURE(seed);
  std::mt19937_64 rng(seed);
  namespace_index index(8, small_graph());
  std::vector<log_record> log;
  log.push_back(insert_record(1, make_entry("good", random_unit(rng, 8))));
  log.push_back(insert_record(2, make_entry("wrong-dimension", random_unit(rng, 5))));
  log.push_back(insert_record(3, make_entry("also-good", random_unit(rng, 8))));
  auto out = apply_log(index, log);
  CHECK(out.results[0].ok());
  CHECK_FALSE(out.results[1].ok());
  CHECK(out.results[2].ok());
  CHECK(out.inserts == 2);
  CHECK(out.last_seq == 3);
  CHECK_FALSE(index.contains("wrong-dimension"));
}

TEST_CASE("inserts past the graph budget wait in the backlog and stay searchable", "[log_apply]") {
  auto seed = test_seed(13);
  CAPTURE(seed);
  std::mt19937_64 rng(seed);
  auto entries = distinct_entries(rng, 10, 8, "b");
  namespace_index index(8, small_graph());
  std::vector<log_record> log;
  std::uint64_t seq = 0;
  for (std::size_t i = 0; i < 4; ++i)
    log.push_back(insert_record(++seq, entries[i]));
  log.push_back(remove_record(++seq, "b0"));
  for (std::size_t i = 4; i < 10; ++i)
    log.push_back(insert_record(++seq, entries[i]));
  apply_options options;
  options.graph_inserts = 6; // 4 before the removal, 2 after it
  auto out = apply_log(index, log, options);
  CHECK(out.inserts == 10);
  CHECK(index.backlog_size() == 4);
  CHECK_FALSE(index.contains("b0"));
  for (std::size_t i = 1; i < 10; ++i) {
    auto hit = index.lookup(entries[i].embedding, "", 0.99, 2000);
    REQUIRE(hit);
    CHECK(hit->uuid == entries[i].uuid);
  }
}

TEST_CASE("two indexes that apply the same log hold the same entries", "[log_apply]") {
  auto seed = test_seed(14);
  CAPTURE(seed);
  std::mt19937_64 rng(seed);
  auto entries = distinct_entries(rng, 40, 8, "r");
  std::vector<log_record> log;
  std::uint64_t seq = 0;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    log.push_back(insert_record(++seq, entries[i]));
    if (i % 3 == 2)
      log.push_back(remove_record(++seq, entries[rng() % (i + 1)].uuid, removal_reason::invalidated));
  }
  namespace_index primary(8, small_graph());
  namespace_index replica(8, small_graph());
  auto copy = log;
  apply_log(primary, log);
  apply_log(replica, copy);
  for (const auto& e : entries)
    CHECK(primary.contains(e.uuid) == replica.contains(e.uuid));
  CHECK(primary.stats().entry_count == replica.stats().entry_count);
}

TEST_CASE("feedback takes effect on the quality model in log order and never on the index", "[log_apply]") {
  auto seed = test_seed(13);
  CAPTURE(seed);
  std::mt19937_64 rng(seed);
  auto entries = distinct_entries(rng, 3, 8, "e");
  namespace_index index(8, small_graph());
  quality::feedback_counts model;
  std::vector<log_record> log;
  log.push_back(insert_record(1, entries[0]));
  log.push_back(feedback_record(2, "e0", 0.91, true, 1));
  log.push_back(insert_record(3, entries[1])); // the feedback does not split the run
  log.push_back(feedback_record(4, "e1", 0.87, false, 3));
  log.push_back(feedback_record(5, "e1", 0.5, false, 200)); // no such class: refused
  log.push_back(feedback_record(6, "gone", 0.8, true, 0));  // the entry need not exist
  auto out = apply_log(index, log, {}, &model);
  CHECK(index.contains("e0"));
  CHECK(index.contains("e1"));
  CHECK(index.size() == 2);
  CHECK(out.inserts == 2);
  CHECK(out.feedback == 3);
  CHECK(out.feedback_wrong == 1);
  CHECK(out.last_seq == 6);
  CHECK(model.total() == 3);
  CHECK(out.results[1].ok());
  CHECK_FALSE(out.results[4].ok());
  CHECK(out.results[5].ok());

  quality::feedback_counts expected;
  expected.add(0.91, quality::agreement_class::close, true);
  expected.add(0.87, quality::agreement_class::conflict, false);
  expected.add(0.8, quality::agreement_class::no_text, true);
  CHECK(model == expected);

  SECTION("without a model, feedback is refused and nothing else changes") {
    namespace_index other(8, small_graph());
    std::vector<log_record> again{feedback_record(1, "e0", 0.9, true, 1)};
    auto refused = apply_log(other, again);
    CHECK_FALSE(refused.results[0].ok());
    CHECK(refused.feedback == 0);
  }
}

TEST_CASE("a feedback table adds its counts to the model; a bad one changes nothing", "[log_apply]") {
  namespace_index index(8, small_graph());
  quality::feedback_counts source;
  source.add(0.95, quality::agreement_class::close, true);
  source.add(0.9, quality::agreement_class::conflict, false);
  log_record table;
  table.op = log_op::feedback_table;
  table.ns_seq = 4;
  table.feedback_table = source.serialize();
  log_record garbage = table;
  garbage.ns_seq = 5;
  garbage.feedback_table = "not a table";
  std::vector<log_record> log{table, garbage};
  quality::feedback_counts model;
  auto out = apply_log(index, log, {}, &model);
  CHECK(out.results[0].ok());
  CHECK_FALSE(out.results[1].ok());
  CHECK(out.feedback_tables == 1);
  CHECK(out.feedback == 0); // no client feedback was applied
  CHECK(out.last_seq == 5);
  CHECK(model == source);
  CHECK(index.size() == 0);

  std::vector<log_record> again{table};
  auto without = apply_log(index, again);
  CHECK_FALSE(without.results[0].ok());
}
