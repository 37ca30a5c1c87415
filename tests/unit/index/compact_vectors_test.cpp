#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "index/compact_kernels.hpp"
#include "index/half_float.hpp"
#include "index/vector_codec.hpp"
#include "index_test_support.hpp"

using namespace ferro;

TEST_CASE("half conversion is exact on every half and rounds floats to the nearest half, ties to even") {
  for (std::uint32_t h = 0; h < 0x10000; ++h) {
    auto x = static_cast<std::uint16_t>(h);
    float f = half::to_float(x);
    if (std::isnan(f))
      continue;
    CAPTURE(h);
    REQUIRE(half::from_float(f) == x);
  }
  CHECK(half::from_float(1.0f) == 0x3c00);
  CHECK(half::from_float(-2.0f) == 0xc000);
  CHECK(half::from_float(65504.0f) == 0x7bff);
  CHECK(half::from_float(65519.0f) == 0x7bff);
  CHECK(half::from_float(65520.0f) == 0x7c00); // the tie goes to even: infinity
  CHECK(half::from_float(0x1p-24f) == 0x0001);
  CHECK(half::from_float(0x1p-25f) == 0x0000);        // tie between 0 and the smallest subnormal
  CHECK(half::from_float(0x1.8p-24f) == 0x0002);      // tie between 1 and 2 units: even
  CHECK(half::from_float(1.0f + 0x1p-11f) == 0x3c00); // tie: even mantissa
  CHECK(half::from_float(1.0f + 0x1.8p-10f) == 0x3c02);
  CHECK(std::isnan(half::to_float(half::from_float(std::numeric_limits<float>::quiet_NaN()))));

  auto seed = test::test_seed(21);
  CAPTURE(seed);
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(-1, 1);
  for (int i = 0; i < 200000; ++i) {
    float f = u(rng) * (i % 3 == 0 ? 1e-4f : 1.0f);
    auto h = half::from_float(f);
    double err = std::fabs(double(half::to_float(h)) - f);
    // No neighbouring half is nearer.
    for (int step : {-1, 1}) {
      auto other = static_cast<std::uint16_t>(h + step);
      if ((other & 0x7c00) == 0x7c00 || ((h & 0x7fff) == 0 && step < 0))
        continue;
      CAPTURE(f, h, other);
      REQUIRE(err <= std::fabs(double(half::to_float(other)) - f));
    }
  }
}

TEST_CASE("every compact kernel set on this CPU agrees with a double-precision reference") {
  auto seed = test::test_seed(22);
  CAPTURE(seed);
  std::mt19937_64 rng(seed);
  auto sets = available_compact_kernels();
  REQUIRE(!sets.empty());
  CHECK(std::string(sets.back().name) == "portable");
  CHECK(best_compact_kernels().f16_query == sets.front().f16_query);
  for (std::size_t n : {1u, 7u, 8u, 15u, 16u, 17u, 31u, 33u, 100u, 384u, 1536u}) {
    auto q = test::random_unit(rng, n);
    auto a = test::random_unit(rng, n);
    auto b = test::random_unit(rng, n);
    for (auto type : {vector_type::float16, vector_type::int8}) {
      vector_codec codec(type, n);
      std::vector<unsigned char> sa(codec.bytes()), sb(codec.bytes());
      codec.encode(a.data(), sa.data());
      codec.encode(b.data(), sb.data());
      auto da = codec.decode(sa.data());
      auto db = codec.decode(sb.data());
      double query_want = 1 - test::cosine(q, db);
      double stored_want = 1 - test::cosine(da, db);
      for (const auto& k : sets) {
        CAPTURE(n, name_of(type), k.name);
        auto query = type == vector_type::float16 ? k.f16_query : k.i8_query;
        auto stored = type == vector_type::float16 ? k.f16_stored : k.i8_stored;
        CHECK(query(q.data(), sb.data(), &n) == Approx(query_want).margin(1e-5));
        CHECK(stored(sa.data(), sb.data(), &n) == Approx(stored_want).margin(1e-5));
      }
    }
  }
}

TEST_CASE("reduced vectors stay within their rounding bound and re-encode to themselves") {
  auto seed = test::test_seed(23);
  CAPTURE(seed);
  std::mt19937_64 rng(seed);
  const std::size_t dim = 384;
  for (int trial = 0; trial < 50; ++trial) {
    auto v = test::random_unit(rng, dim);
    auto q = test::random_unit(rng, dim);
    for (auto type : {vector_type::float32, vector_type::float16, vector_type::int8}) {
      CAPTURE(trial, name_of(type));
      vector_codec codec(type, dim);
      REQUIRE(codec.bytes() == stored_vector_bytes(type, dim));
      std::vector<unsigned char> stored(codec.bytes());
      codec.encode(v.data(), stored.data());
      auto back = codec.decode(stored.data());
      float max_abs = 0;
      for (float x : v)
        max_abs = std::max(max_abs, std::fabs(x));
      for (std::size_t i = 0; i < dim; ++i) {
        double err = std::fabs(double(back[i]) - v[i]);
        if (type == vector_type::float32)
          REQUIRE(err == 0);
        else if (type == vector_type::float16) // half an ulp of an 11-bit significand
          REQUIRE(err <= std::max(std::fabs(v[i]) * 0x1p-11, 0x1p-25));
        else // half a quantisation step, plus float rounding of code * scale
          REQUIRE(err <= max_abs / 254 * (1 + 1e-5));
      }
      // What the graph hands back stores to the same bytes (snapshots restore).
      CHECK(codec.encodes_to(back.data(), stored.data()));
      CHECK(codec.encodes_to(v.data(), stored.data()));
      auto other = test::random_unit(rng, dim);
      CHECK_FALSE(codec.encodes_to(other.data(), stored.data()));
      // A similarity computed against the stored vector is off by at most
      // the bound docs/formats.md states (|q| |v - v'| by Cauchy-Schwarz).
      double exact = test::cosine(q, v);
      float d = codec.query_distance()(q.data(), stored.data(), &dim);
      double bound = type == vector_type::float16 ? 0x1p-11 : std::sqrt(double(dim)) * max_abs / 254;
      CHECK(std::fabs((1 - double(d)) - exact) <= bound + 1e-5);
    }
  }
}

TEST_CASE("vector types are spelled as the setting spells them") {
  for (auto type : {vector_type::float32, vector_type::float16, vector_type::int8})
    CHECK(parse_vector_type(name_of(type)) == type);
  CHECK_FALSE(parse_vector_type("float64").has_value());
  CHECK_FALSE(parse_vector_type("Int8").has_value());
  CHECK(stored_vector_bytes(vector_type::float32, 384) == 1536);
  CHECK(stored_vector_bytes(vector_type::float16, 384) == 768);
  CHECK(stored_vector_bytes(vector_type::int8, 384) == 388);
}
