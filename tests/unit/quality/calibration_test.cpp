#include <catch2/catch.hpp>

#include <cmath>
#include <cstdio>
#include <random>

#include "quality/calibration.hpp"
#include "quality/hit_gate.hpp"

using namespace ferro::quality;

namespace {

// A known world: the nearest entry's similarity is uniform in [0.6, 1.0] and
// the hit is wrong with probability p(s), decreasing in s.
double p_wrong(double s) {
  return std::clamp(0.9 - 1.6 * (s - 0.6) * 1.4, 0.0, 1.0) * std::clamp(1.05 - s, 0.02, 1.0) * 2.0;
}

// The true error rate of serving every hit with similarity >= t (numerically).
double true_tail_error(double t) {
  double wrong = 0, n = 0;
  for (double s = 0.6; s < 1.0; s += 1e-5) {
    if (s < t)
      continue;
    wrong += std::min(1.0, p_wrong(s));
    n += 1;
  }
  return n == 0 ? 0.0 : wrong / n;
}

feedback_counts sample(std::mt19937_64& rng, std::size_t n, agreement_class c) {
  std::uniform_real_distribution<double> sim(0.6, 1.0);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  feedback_counts counts;
  for (std::size_t i = 0; i < n; ++i) {
    double s = sim(rng);
    counts.add(s, c, u(rng) >= std::min(1.0, p_wrong(s)));
  }
  return counts;
}

} // namespace

TEST_CASE("the Wilson upper bound behaves at its edges", "[quality]") {
  CHECK(wilson_upper(0, 0, 1.96) == 1.0);
  CHECK(wilson_upper(0, 100, 1.96) == Approx(3.8416 / 103.8416).epsilon(1e-6));
  CHECK(wilson_upper(100, 100, 1.96) == Approx(1.0));
  CHECK(wilson_upper(5, 100, 1.96) > 0.05);
  CHECK(wilson_upper(50, 1000, 1.96) < 0.07);
}

TEST_CASE("bins cover [0.5, 1] and clamp outside", "[quality]") {
  CHECK(bin_of(-1.0) == 0);
  CHECK(bin_of(0.5) == 0);
  CHECK(bin_of(0.95) == 90);
  CHECK(bin_low(90) == Approx(0.95));
  CHECK(bin_of(1.0) == bins - 1);
  CHECK(bin_of(std::nan("")) == 0);
}

TEST_CASE("with too little feedback the threshold decides", "[quality]") {
  feedback_counts c;
  for (int i = 0; i < 29; ++i)
    c.add(0.97, agreement_class::close, true);
  auto m = c.fit(model_params{});
  CHECK_FALSE(m->decide(0.97, agreement_class::close, 0.05).model_decided);
  c.add(0.97, agreement_class::close, true);
  m = c.fit(model_params{});
  CHECK(m->decide(0.97, agreement_class::close, 0.5).model_decided);
  // Classes are separate: feedback on one says nothing about another.
  CHECK_FALSE(m->decide(0.97, agreement_class::loose, 0.5).model_decided);
}

TEST_CASE("the isotonic estimate is nonincreasing in similarity", "[quality]") {
  auto seed = std::random_device{}();
  INFO("seed " << seed);
  std::printf("calibration isotonic test seed %llu\n", static_cast<unsigned long long>(seed));
  std::mt19937_64 rng(seed);
  auto counts = sample(rng, 3000, agreement_class::close);
  auto m = counts.fit(model_params{});
  double prev = 2.0;
  for (double s = 0.6; s <= 1.0; s += bin_width) {
    auto d = m->decide(s, agreement_class::close, 0.5);
    REQUIRE(d.model_decided);
    CHECK(d.estimate <= prev + 1e-12);
    prev = d.estimate;
  }
}

TEST_CASE("the served error stays within the bound on data with a known error rate", "[quality]") {
  // For each bound and many seeded runs: learn from n samples, then compute
  // the true error rate of what the model serves. The bound is one-sided at
  // 97.5% per threshold; choosing the lowest passing threshold spends some of
  // that, so allow violations in at most 10% of runs (we see far fewer).
  auto base = std::random_device{}();
  std::printf("calibration bound test base seed %llu\n", static_cast<unsigned long long>(base));
  INFO("base seed " << base);
  for (double bound : {0.01, 0.05, 0.10}) {
    int violations = 0, served_runs = 0;
    const int runs = 60;
    for (int r = 0; r < runs; ++r) {
      std::mt19937_64 rng(base + static_cast<std::uint64_t>(r) * 7919);
      auto counts = sample(rng, 20000, agreement_class::loose);
      auto m = counts.fit(model_params{});
      auto d = m->decide(1.0, agreement_class::loose, bound);
      REQUIRE(d.model_decided);
      if (d.serving_from > 1.0)
        continue; // serves nothing: trivially within the bound
      ++served_runs;
      CHECK(d.bound <= bound);
      if (true_tail_error(d.serving_from) > bound)
        ++violations;
    }
    INFO("bound " << bound << ": " << violations << " violations in " << served_runs << " runs that served");
    CHECK(violations <= runs / 10);
    CHECK(served_runs > 0);
  }
}

TEST_CASE("counts survive serialisation and bad state is refused", "[quality]") {
  std::mt19937_64 rng(7);
  auto counts = sample(rng, 500, agreement_class::close);
  counts.add(0.3, agreement_class::conflict, false);
  auto text = counts.serialize();
  auto back = feedback_counts::deserialize(text);
  REQUIRE(back);
  CHECK(back.value() == counts);
  CHECK(back.value().total() == 501);
  CHECK_FALSE(feedback_counts::deserialize(""));
  CHECK_FALSE(feedback_counts::deserialize("fq1 101 0.005\n9,0,1,1\n"));
  CHECK_FALSE(feedback_counts::deserialize("fq1 101 0.005\n0,500,1,1\n"));
  CHECK_FALSE(feedback_counts::deserialize("fq1 101 0.005\n0,1,1\n"));
  CHECK_FALSE(feedback_counts::deserialize("fq1 101 0.005\n0,1,1,1"));
  CHECK_FALSE(feedback_counts::deserialize("fq2 101 0.005\n"));
  CHECK(feedback_counts::deserialize("fq1 101 0.005\n"));
}

TEST_CASE("the gate applies exact, check, error bound and threshold in that order", "[quality]") {
  feedback_counts c;
  for (int i = 0; i < 200; ++i)
    c.add(0.80, agreement_class::close, true); // all correct at 0.80
  auto m = c.fit(model_params{});
  SECTION("exact matches are served") {
    hit_gate g({0.9, true, 0.05}, "What is 2 + 2?");
    auto v = g.judge(1.0, true, "what is 2 + 2?", m.get());
    CHECK(v.serve);
    CHECK(std::string{v.decided_by} == "exact");
  }
  SECTION("strict refuses a changed number") {
    hit_gate g({0.5, true, std::nullopt}, "Tax rate in 2023");
    auto v = g.judge(0.99, false, "Tax rate in 2024", m.get());
    CHECK_FALSE(v.serve);
    CHECK(std::string{v.decided_by} == "check");
  }
  SECTION("the bound serves below the threshold when feedback allows") {
    hit_gate g({0.95, false, 0.05}, "how do I sort a list quickly");
    CHECK(g.search_threshold(m.get()) == 0.0);
    auto v = g.judge(0.81, false, "how do I quickly sort a list", m.get());
    CHECK(v.serve);
    CHECK(std::string{v.decided_by} == "error_bound");
    REQUIRE(v.bound);
    CHECK(*v.bound <= 0.05);
    auto low = g.judge(0.70, false, "how do I quickly sort a list", m.get());
    CHECK_FALSE(low.serve);
  }
  SECTION("an untrained class falls back to the threshold") {
    hit_gate g({0.95, false, 0.05}, "");
    auto v = g.judge(0.96, false, "anything", m.get());
    CHECK(v.serve);
    CHECK(std::string{v.decided_by} == "threshold");
    CHECK_FALSE(g.judge(0.90, false, "anything", m.get()).serve);
  }
}
