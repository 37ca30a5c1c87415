#include <catch2/catch.hpp>

#include "common/namespace_key.hpp"

using ferro::namespace_key;

TEST_CASE("keys whose parts concatenate alike still encode differently") {
  namespace_key a{"a::b", "", ""};
  namespace_key b{"a", "b", ""};
  CHECK(ferro::encode_key(a) != ferro::encode_key(b));
  CHECK_FALSE(a == b);
  // Display names are for people and may collide; identity never does.
  CHECK(ferro::display_name(a) == ferro::display_name(b));
}

TEST_CASE("an encoded key decodes back to itself whatever its bytes") {
  namespace_key k{"m:1:2", "sc:ope\n", std::string("c\0v", 3)};
  auto back = ferro::decode_key(ferro::encode_key(k));
  REQUIRE(back.has_value());
  CHECK(*back == k);
}

TEST_CASE("malformed encodings are rejected") {
  CHECK_FALSE(ferro::decode_key("").has_value());
  CHECK_FALSE(ferro::decode_key("3:ab").has_value());
  CHECK_FALSE(ferro::decode_key("1:a0:0:x").has_value());
  CHECK_FALSE(ferro::decode_key("99999999999999999999999:a0:0:").has_value());
}

TEST_CASE("display names append scope and conversation") {
  CHECK(ferro::display_name({"m", "", ""}) == "m");
  CHECK(ferro::display_name({"m", "t", ""}) == "m::t");
  CHECK(ferro::display_name({"m", "t", "c"}) == "m::t::conv_c");
  CHECK(ferro::display_name({"m", "", "c"}) == "m::conv_c");
}

TEST_CASE("exact-match normalisation folds case and whitespace") {
  CHECK(ferro::normalize_text("  What IS\tthe\n\ncapital ") == "what is the capital");
  CHECK(ferro::normalize_text("   ") == "");
  CHECK(ferro::is_blank(" \t\n"));
  CHECK_FALSE(ferro::is_blank(" x "));
}
