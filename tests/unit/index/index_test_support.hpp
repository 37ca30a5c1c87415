#pragma once

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include <unistd.h>

#include "common/entry.hpp"
#include "index/index_types.hpp"
#include "index/namespace_image.hpp"
#include "index/vector_math.hpp"

namespace ferro::test {

/// The seed of a test's PRNG: FERRO_TEST_SEED if set, else the given
/// default. Tests print it with CAPTURE so a failure can be replayed.
inline std::uint64_t test_seed(std::uint64_t fallback) {
  if (const char* s = std::getenv("FERRO_TEST_SEED"))
    return std::strtoull(s, nullptr, 10);
  return fallback;
}

/// prefix + decimal i. (`"literal" + std::to_string(i)` trips a GCC 12
/// -Wrestrict false positive at -O2, fatal under -Werror.)
inline std::string cat(std::string prefix, long long i) {
  prefix += std::to_string(i);
  return prefix;
}

inline std::vector<float> random_unit(std::mt19937_64& rng, std::size_t dim) {
  std::normal_distribution<float> g(0, 1);
  std::vector<float> v(dim);
  do {
    for (auto& x : v)
      x = g(rng);
  } while (!normalize(v));
  return v;
}

/// v plus gaussian noise of deviation `sigma` per component, renormalised.
inline std::vector<float> jitter(const std::vector<float>& v, float sigma, std::mt19937_64& rng) {
  std::normal_distribution<float> g(0, sigma);
  std::vector<float> out(v);
  do {
    out = v;
    for (auto& x : out)
      x += g(rng);
  } while (!normalize(out));
  return out;
}

/// A unit vector whose cosine with the unit vector v is exactly `cosine`
/// (up to float rounding).
inline std::vector<float> at_cosine(const std::vector<float>& v, double cosine, std::mt19937_64& rng) {
  // Gram-Schmidt: a random direction orthogonal to v, then rotate towards it.
  auto u = random_unit(rng, v.size());
  double along = 0;
  for (std::size_t i = 0; i < v.size(); ++i)
    along += double(u[i]) * v[i];
  std::vector<double> w(v.size());
  double norm = 0;
  for (std::size_t i = 0; i < v.size(); ++i) {
    w[i] = u[i] - along * v[i];
    norm += w[i] * w[i];
  }
  norm = std::sqrt(norm);
  double sine = std::sqrt(1 - cosine * cosine);
  std::vector<float> out(v.size());
  for (std::size_t i = 0; i < v.size(); ++i)
    out[i] = static_cast<float>(cosine * v[i] + sine * w[i] / norm);
  normalize(out);
  return out;
}

inline double cosine(const std::vector<float>& a, const std::vector<float>& b) {
  double s = 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    s += double(a[i]) * b[i];
  return s;
}

inline cache_entry make_entry(std::string uuid, std::vector<float> embedding, std::string query_text = {},
                              std::int64_t created_at_ms = 1000, std::int64_t expires_at_ms = 0) {
  cache_entry e;
  e.uuid = uuid;
  e.embedding = std::move(embedding);
  e.response = "response of " + uuid;
  e.query_text = std::move(query_text);
  e.created_at_ms = created_at_ms;
  e.expires_at_ms = expires_at_ms;
  return e;
}

/// Default HNSW parameters with a small initial capacity, so that tests
/// exercise the graph's growth.
inline hnsw_params small_graph(std::size_t initial_capacity = 16) {
  hnsw_params p;
  p.initial_capacity = initial_capacity;
  return p;
}

/// n entries "<prefix>0".."<prefix>n-1" with random unit vectors; with_text
/// also gives each a distinct query text ("text of <i><prefix>").
inline std::vector<cache_entry> distinct_entries(std::mt19937_64& rng, std::size_t n, std::size_t dim,
                                                 const char* prefix, bool with_text = false) {
  std::vector<cache_entry> out;
  for (std::size_t i = 0; i < n; ++i) {
    auto id = static_cast<long long>(i);
    out.push_back(make_entry(cat(prefix, id), random_unit(rng, dim),
                             with_text ? cat("text of ", id) + prefix : std::string()));
  }
  return out;
}

/// A fresh directory under the system temp dir, removed at scope exit.
struct temp_dir {
  std::filesystem::path path;
  temp_dir() {
    static int counter = 0;
    path = std::filesystem::temp_directory_path() /
           (test::cat("ferro_index_test_", ::getpid()) + test::cat("_", counter++));
    std::filesystem::create_directories(path);
  }
  ~temp_dir() {
    std::error_code ignored;
    std::filesystem::remove_all(path, ignored);
  }
};

/// An image's entries with their embeddings filled in from its graph copy
/// (the image holds each vector once, in the graph).
inline std::vector<labelled_entry> entries_of(const namespace_image& image) {
  auto out = image.entries;
  for (std::size_t i = 0; i < out.size(); ++i) {
    auto v = image.embedding(i);
    out[i].entry.embedding.assign(v.begin(), v.end());
  }
  return out;
}

} // namespace ferro::test
