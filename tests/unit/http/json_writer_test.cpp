#include <catch2/catch.hpp>

#include <cfloat>
#include <charconv>
#include <cmath>
#include <limits>
#include <string>

#include "http/json_writer.hpp"

using namespace ferro;

namespace {
std::string quoted(std::string_view s) {
  std::string out;
  append_json_string(out, s);
  return out;
}
std::string num(double v) {
  std::string out;
  append_json_number(out, v);
  return out;
}
} // namespace

TEST_CASE("JSON strings escape quotes, backslashes and control characters") {
  CHECK(quoted("plain") == "\"plain\"");
  CHECK(quoted("a\"b\\c") == "\"a\\\"b\\\\c\"");
  CHECK(quoted("\n\r\t\b\f") == "\"\\n\\r\\t\\b\\f\"");
  CHECK(quoted(std::string_view{"\x00\x01\x1f", 3}) == "\"\\u0000\\u0001\\u001f\"");
  CHECK(quoted("\x7f") == "\"\x7f\"");
}

TEST_CASE("JSON strings pass valid UTF-8 through and replace malformed bytes") {
  CHECK(quoted("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80") ==
        "\"caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80\"");
  CHECK(quoted("a\xFF"
               "b") == "\"a\xEF\xBF\xBD"
                       "b\"");
  CHECK(quoted("\xC3") == "\"\xEF\xBF\xBD\"");                                 // truncated sequence
  CHECK(quoted("\xC0\xAF") == "\"\xEF\xBF\xBD\xEF\xBF\xBD\"");                 // overlong
  CHECK(quoted("\xED\xA0\x80") == "\"\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\""); // surrogate
}

TEST_CASE("JSON numbers are the shortest text that round-trips") {
  CHECK(num(0.97) == "0.97");
  CHECK(num(1.0) == "1");
  CHECK(num(0.1 + 0.2) == "0.30000000000000004");
  CHECK(num(static_cast<double>(0.97f)) == "0.9700000286102295");
  CHECK(num(1700000000.123) == "1700000000.123");
  for (double v : {1e-300, 123456.789, -2.5e10, static_cast<double>(FLT_MAX)}) {
    double back = 0;
    auto text = num(v);
    std::from_chars(text.data(), text.data() + text.size(), back);
    CHECK(back == v);
  }
}

TEST_CASE("JSON numbers that are not finite are written as null") {
  CHECK(num(std::numeric_limits<double>::quiet_NaN()) == "null");
  CHECK(num(std::numeric_limits<double>::infinity()) == "null");
}

TEST_CASE("The JSON writer places commas and colons in nested containers") {
  json_writer w;
  w.begin_object()
      .key("a")
      .number(std::uint64_t{1})
      .key("b")
      .begin_array()
      .string("x")
      .boolean(true)
      .null()
      .number(std::int64_t{-2})
      .end_array()
      .key("c")
      .begin_object()
      .end_object()
      .key("d")
      .begin_array()
      .end_array()
      .end_object();
  CHECK(w.take() == R"({"a":1,"b":["x",true,null,-2],"c":{},"d":[]})");
  w.begin_array().begin_object().key("k").string("v").end_object().begin_object().end_object().end_array();
  CHECK(w.take() == R"([{"k":"v"},{}])");
}
