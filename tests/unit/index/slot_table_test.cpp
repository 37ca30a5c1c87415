#include <catch2/catch.hpp>

#include <map>
#include <random>
#include <string>

#include "index/slot_table.hpp"
#include "index_test_support.hpp"

using namespace ferro;

namespace {

// `+=`, not `"u" + std::to_string(...)`: gcc 12 warns (-Wrestrict) on the latter.
std::string name(const char* prefix, std::uint64_t i) {
  std::string s = prefix;
  s += std::to_string(i);
  return s;
}

entry_slot::ptr slot_for(const std::string& uuid, std::uint64_t label) {
  auto s = entry_slot::make(uuid, "response", "query");
  s->label = label;
  return s;
}

// The table against a std::map of uuid -> label: same members, each found.
void check_same(const slot_table& t, const std::map<std::string, std::uint64_t>& model) {
  REQUIRE(t.size() == model.size());
  std::size_t seen = 0;
  for (const auto& s : t) {
    auto it = model.find(std::string(s->uuid()));
    REQUIRE(it != model.end());
    CHECK(s->label == it->second);
    ++seen;
  }
  CHECK(seen == model.size());
  for (const auto& [uuid, label] : model) {
    auto it = t.find(uuid);
    REQUIRE(it != t.end());
    CHECK((*it)->label == label);
  }
}

} // namespace

TEST_CASE("the slot table finds, refuses duplicates of and removes slots like a set keyed by uuid") {
  auto seed = test::test_seed(7);
  CAPTURE(seed);
  std::mt19937_64 rng(seed);
  slot_table t;
  std::map<std::string, std::uint64_t> model;
  CHECK(t.find("nothing") == t.end());
  CHECK(t.empty());
  // Few distinct uuids and many operations: long probe runs, wrap-around at
  // the end of the bucket array, erasures inside runs (the backward shift).
  for (std::uint64_t op = 0; op < 20000; ++op) {
    auto uuid = name("u", rng() % 600);
    auto in_model = model.find(uuid);
    if (rng() % 3 != 0) {
      auto fresh = slot_for(uuid, op);
      auto [it, inserted] = t.insert(std::move(fresh));
      CHECK(inserted == (in_model == model.end()));
      CHECK((*it)->uuid() == uuid);
      if (inserted) {
        model[uuid] = op;
      } else {
        REQUIRE(fresh); // a refused slot stays with the caller
        CHECK((*it)->label == in_model->second);
      }
    } else {
      auto it = t.find(uuid);
      CHECK((it != t.end()) == (in_model != model.end()));
      if (it != t.end()) {
        auto out = t.extract(it);
        CHECK(out->uuid() == uuid);
        model.erase(in_model);
      }
    }
    CHECK(t.count(uuid) == model.count(uuid));
    if (op % 1000 == 0)
      check_same(t, model);
  }
  check_same(t, model);
  // Load stays at most 3/4: the reason the table is smaller than a node set.
  CHECK(t.size() * 4 <= t.bucket_count() * 3);
}

TEST_CASE("a reserved slot table holds that many slots without growing") {
  slot_table t;
  t.reserve(1000);
  auto buckets = t.bucket_count();
  CHECK(buckets >= 1000);
  for (std::uint64_t i = 0; i < 1000; ++i)
    REQUIRE(t.insert(slot_for(name("r", i), i)).second);
  CHECK(t.bucket_count() == buckets);
  CHECK(t.size() == 1000);
}
