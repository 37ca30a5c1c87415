#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <random>

#include "index/vector_math.hpp"
#include "index_test_support.hpp"

using namespace ferro;

TEST_CASE("normalize scales a vector to unit length") {
  std::vector<float> v{3, 4};
  REQUIRE(normalize(v));
  CHECK(v[0] == Approx(0.6));
  CHECK(v[1] == Approx(0.8));
}

TEST_CASE("normalize refuses empty, non-finite and all-zero vectors and leaves them untouched") {
  std::vector<float> empty;
  CHECK_FALSE(normalize(empty));
  std::vector<float> zero{0, 0, 0};
  CHECK_FALSE(normalize(zero));
  CHECK(zero == std::vector<float>{0, 0, 0});
  std::vector<float> nan{1, std::numeric_limits<float>::quiet_NaN()};
  CHECK_FALSE(normalize(nan));
  CHECK(nan[0] == 1);
  std::vector<float> inf{1, std::numeric_limits<float>::infinity()};
  CHECK_FALSE(normalize(inf));
}

TEST_CASE("normalize handles values near the float limits") {
  std::vector<float> big{3e38f, 3e38f};
  REQUIRE(normalize(big));
  CHECK(big[0] == Approx(std::sqrt(0.5)));
  std::vector<float> tiny{1e-42f, 0};
  REQUIRE(normalize(tiny));
  CHECK(tiny[0] == Approx(1));
}

TEST_CASE("every dot-product kernel on this CPU agrees with a double-precision reference") {
  auto seed = test::test_seed(7);
  CAPTURE(seed);
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(-1, 1);
  auto kernels = available_dot_kernels();
  REQUIRE(!kernels.empty());
  CHECK(best_dot_kernel().fn == kernels.front().fn);
  for (std::size_t n : {1u, 3u, 7u, 8u, 15u, 16u, 17u, 31u, 33u, 64u, 100u, 128u, 384u, 1536u, 4096u}) {
    std::vector<float> a(n), b(n);
    for (std::size_t i = 0; i < n; ++i) {
      a[i] = u(rng);
      b[i] = u(rng);
    }
    double want = 0;
    for (std::size_t i = 0; i < n; ++i)
      want += double(a[i]) * b[i];
    for (const auto& k : kernels) {
      CAPTURE(n, k.name);
      CHECK(k.fn(a.data(), b.data(), n) == Approx(want).margin(1e-4));
    }
  }
}

TEST_CASE("the inner-product distance is one minus the dot product and maps back to a clamped similarity") {
  std::vector<float> a{1, 0}, b{0.6f, 0.8f};
  std::size_t dim = 2;
  float d = best_ip_distance()(a.data(), b.data(), &dim);
  CHECK(d == Approx(0.4));
  CHECK(similarity_from_distance(d) == Approx(0.6));
  CHECK(similarity_from_distance(-1e-7f) == 1.0);
  CHECK(similarity_from_distance(2.5f) == -1.0);
}
