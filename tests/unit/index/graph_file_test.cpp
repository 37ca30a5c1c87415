#include <catch2/catch.hpp>

#include <random>
#include <vector>

#include "index/graph_file.hpp"
#include "index/lru_list.hpp"
#include "index_test_support.hpp"

using namespace ferro;

TEST_CASE("the graph checksum changes whenever any single byte changes") {
  auto seed = test::test_seed(11);
  CAPTURE(seed);
  std::mt19937_64 rng(seed);
  std::vector<unsigned char> data(203);
  for (auto& b : data)
    b = static_cast<unsigned char>(rng());
  graph_file::checksum whole;
  whole.update(data.data(), data.size());
  for (std::size_t i = 0; i < data.size(); ++i) {
    auto copy = data;
    copy[i] ^= static_cast<unsigned char>(1 + rng() % 255);
    graph_file::checksum c;
    c.update(copy.data(), copy.size());
    CAPTURE(i);
    CHECK(c.digest() != whole.digest());
  }
  // Length matters too, even for trailing zeros.
  auto longer = data;
  longer.push_back(0);
  graph_file::checksum c;
  c.update(longer.data(), longer.size());
  CHECK(c.digest() != whole.digest());
}

TEST_CASE("the graph checksum does not depend on how the input is split") {
  std::vector<unsigned char> data(100);
  for (std::size_t i = 0; i < data.size(); ++i)
    data[i] = static_cast<unsigned char>(i * 7);
  graph_file::checksum whole;
  whole.update(data.data(), data.size());
  for (std::size_t step : {1u, 3u, 5u, 8u, 13u}) {
    graph_file::checksum pieces;
    for (std::size_t i = 0; i < data.size(); i += step)
      pieces.update(data.data() + i, std::min(step, data.size() - i));
    CAPTURE(step);
    CHECK(pieces.digest() == whole.digest());
  }
}

TEST_CASE("a graph header survives encoding and decoding") {
  graph_file::header h;
  h.max_elements = 1024;
  h.element_count = 7;
  h.size_data_per_element = 200;
  h.max_level = 3;
  h.enterpoint = 5;
  h.mult = 0.36;
  unsigned char raw[graph_file::header_size];
  graph_file::encode_header(h, raw);
  auto back = graph_file::decode_header(raw);
  CHECK(back.max_elements == 1024);
  CHECK(back.element_count == 7);
  CHECK(back.size_data_per_element == 200);
  CHECK(back.max_level == 3);
  CHECK(back.enterpoint == 5);
  CHECK(back.mult == 0.36);
}

namespace {
struct node {
  int id;
  node* lru_prev = nullptr;
  node* lru_next = nullptr;
  std::int64_t lru_key = 0;
};

std::vector<int> order(const lru_list<node>& l) {
  std::vector<int> out;
  for (auto* n = l.oldest(); n; n = n->lru_next)
    out.push_back(n->id);
  return out;
}
} // namespace

TEST_CASE("the LRU list stays sorted by key and keeps event order among equal keys") {
  node a{1}, b{2}, c{3}, d{4};
  lru_list<node> l;
  l.insert(a, 10);
  l.insert(b, 30);
  l.insert(c, 20);
  l.insert(d, 20);
  CHECK(order(l) == std::vector<int>{1, 3, 4, 2});
  l.update(c, 20); // a later event with the same key
  CHECK(order(l) == std::vector<int>{1, 4, 3, 2});
  l.update(c, 20);
  l.update(d, 20);
  CHECK(order(l) == std::vector<int>{1, 3, 4, 2});
  l.update(a, 40);
  CHECK(order(l) == std::vector<int>{3, 4, 2, 1});
  l.update(d, 5);
  CHECK(order(l) == std::vector<int>{4, 3, 2, 1});
  l.erase(b);
  CHECK(order(l) == std::vector<int>{4, 3, 1});
  CHECK(l.size() == 3);
}
