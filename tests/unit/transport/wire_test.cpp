#include <random>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "cluster/transport/wire.hpp"
#include "transport_test_support.hpp"

using namespace ferro::transport;
using ferro::transport::test::framed;
using ferro::transport::test::test_seed;

namespace {

/// Feeds `bytes` to a decoder in chunks of the given sizes (cycled).
std::vector<std::string> decode_in_chunks(const std::string& bytes, const std::vector<std::size_t>& chunks,
                                          std::size_t limit) {
  wire::frame_decoder d(limit);
  std::vector<std::string> out;
  std::size_t pos = 0, i = 0;
  while (pos < bytes.size()) {
    auto n = std::min(chunks[i++ % chunks.size()], bytes.size() - pos);
    std::string_view in(bytes.data() + pos, n);
    pos += n;
    std::string f;
    for (;;) {
      auto r = d.next(in, f);
      if (r == wire::frame_decoder::outcome::need_more)
        break;
      REQUIRE(r == wire::frame_decoder::outcome::frame);
      out.push_back(f);
    }
  }
  REQUIRE_FALSE(d.mid_frame());
  return out;
}

} // namespace

TEST_CASE("the decoder yields the same frames however the stream is split", "[transport][wire]") {
  std::mt19937_64 rng(test_seed());
  INFO("seed " << test_seed());
  std::vector<std::string> frames;
  std::string stream;
  for (int i = 0; i < 200; ++i) {
    std::string f(rng() % 3000, '\0');
    for (auto& c : f)
      c = static_cast<char>(rng());
    if (i % 17 == 0)
      f.clear();
    frames.push_back(f);
    stream += framed(f);
  }
  for (std::vector<std::size_t> chunks : {std::vector<std::size_t>{1}, {3, 5}, {4096}, {7, 1, 65536}})
    CHECK(decode_in_chunks(stream, chunks, 4096) == frames);
}

TEST_CASE("the decoder refuses a declared length above the limit before storing the payload",
          "[transport][wire]") {
  wire::frame_decoder d(1000);
  std::string bytes = framed(std::string(1001, 'x'));
  std::string_view in(bytes);
  std::string f;
  CHECK(d.next(in, f) == wire::frame_decoder::outcome::oversized);
  CHECK(d.declared_length() == 1001);
  CHECK(in.size() == 1001); // nothing of the payload was consumed
  // The header of 0xffffffff is refused after its fourth byte.
  wire::frame_decoder d2(1 << 20);
  std::string huge = "\xff\xff\xff\xff";
  std::string_view in2(huge);
  CHECK(d2.next(in2, f) == wire::frame_decoder::outcome::oversized);
  CHECK(d2.declared_length() == 0xffffffffu);
}

TEST_CASE("a partial header or payload leaves the decoder mid-frame", "[transport][wire]") {
  wire::frame_decoder d(100);
  std::string f;
  std::string two("\x00\x00", 2);
  std::string_view in(two.data(), 2);
  CHECK(d.next(in, f) == wire::frame_decoder::outcome::need_more);
  CHECK(d.mid_frame());
  std::string rest = std::string("\x00\x05", 2) + "abc";
  std::string_view in2(rest);
  CHECK(d.next(in2, f) == wire::frame_decoder::outcome::need_more);
  CHECK(d.mid_frame());
  std::string_view in3("de");
  CHECK(d.next(in3, f) == wire::frame_decoder::outcome::frame);
  CHECK(f == "abcde");
  CHECK_FALSE(d.mid_frame());
}

TEST_CASE("a hello and a refusal survive encoding and decoding", "[transport][wire]") {
  wire::hello h{1, 0x0123456789abcdefULL, "node-a", "10.0.0.1:7000"};
  auto back = wire::decode_first_frame(wire::encode_hello(h));
  REQUIRE(back.ok());
  REQUIRE(back->hi);
  CHECK(back->hi->wire_version == 1);
  CHECK(back->hi->incarnation == 0x0123456789abcdefULL);
  CHECK(back->hi->node_id == "node-a");
  CHECK(back->hi->advertise == "10.0.0.1:7000");
  auto r = wire::decode_first_frame(wire::encode_refusal("no"));
  REQUIRE(r.ok());
  REQUIRE(r->refused);
  CHECK(r->refused->reason == "no");
}

TEST_CASE("garbage, truncated hellos and trailing bytes are not hellos", "[transport][wire]") {
  auto good = wire::encode_hello({1, 2, "n", "a:1"});
  CHECK_FALSE(wire::decode_first_frame("GET / HTTP/1.1\r\n").ok());
  CHECK_FALSE(wire::decode_first_frame(good.substr(0, good.size() - 1)).ok());
  CHECK_FALSE(wire::decode_first_frame(good + "x").ok());
  CHECK_FALSE(wire::decode_first_frame(wire::encode_hello({1, 2, "", "a:1"})).ok());
  CHECK_FALSE(wire::decode_first_frame("").ok());
}
