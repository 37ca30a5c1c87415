#include <catch2/catch.hpp>

#include "http/auth.hpp"
#include "http/target.hpp"

using namespace ferro;
using namespace ferro::http_detail;

TEST_CASE("Auth off accepts any request") {
  CHECK(is_authorized("", ""));
  CHECK(is_authorized("", "Bearer whatever"));
}

TEST_CASE("Auth accepts exactly the configured bearer token") {
  CHECK(is_authorized("s3cret", "Bearer s3cret"));
  CHECK(is_authorized("s3cret", "bearer s3cret"));
  CHECK(is_authorized("s3cret", "BEARER   s3cret"));
  CHECK_FALSE(is_authorized("s3cret", ""));
  CHECK_FALSE(is_authorized("s3cret", "s3cret"));
  CHECK_FALSE(is_authorized("s3cret", "Bearer"));
  CHECK_FALSE(is_authorized("s3cret", "Bearer "));
  CHECK_FALSE(is_authorized("s3cret", "Basic s3cret"));
  CHECK_FALSE(is_authorized("s3cret", "Bearers3cret"));
  CHECK_FALSE(is_authorized("s3cret", "Bearer s3cre"));
  CHECK_FALSE(is_authorized("s3cret", "Bearer s3cret2"));
  CHECK_FALSE(is_authorized("s3cret", "Bearer S3CRET"));
  CHECK_FALSE(is_authorized("s3cret", "Bearer s3cres"));
}

TEST_CASE("Constant-time comparison handles every length relation") {
  CHECK(constant_time_equals("abc", "abc"));
  CHECK_FALSE(constant_time_equals("", "abc"));
  CHECK_FALSE(constant_time_equals("ab", "abc"));
  CHECK_FALSE(constant_time_equals("abcd", "abc"));
  CHECK_FALSE(constant_time_equals("abd", "abc"));
  CHECK_FALSE(constant_time_equals(std::string(10000, 'a'), "abc"));
  // A supplied prefix padded with NULs must not match a shorter token.
  CHECK_FALSE(constant_time_equals(std::string_view{"abc\0", 4}, "abc"));
  CHECK(constant_time_equals("", ""));
}

TEST_CASE("Only GET /health and GET /metrics are open with auth on") {
  CHECK(is_open_route("GET", "/health"));
  CHECK(is_open_route("GET", "/metrics"));
  CHECK(is_open_route("GET", "/health?x=1"));
  CHECK_FALSE(is_open_route("POST", "/health"));
  CHECK_FALSE(is_open_route("GET", "/stats"));
  CHECK_FALSE(is_open_route("GET", "/health/"));
  CHECK(request_allowed("t", "GET", "/metrics", ""));
  CHECK_FALSE(request_allowed("t", "GET", "/nope", ""));
}

TEST_CASE("Percent-decoding decodes escapes and rejects malformed ones") {
  CHECK(percent_decode("abc").value() == "abc");
  CHECK(percent_decode("a%20b%2Fc%2f").value() == "a b/c/");
  CHECK(percent_decode("a+b").value() == "a+b");
  CHECK(percent_decode("%e2%82%ac").value() == "\xE2\x82\xAC");
  CHECK_FALSE(percent_decode("%").has_value());
  CHECK_FALSE(percent_decode("%2").has_value());
  CHECK_FALSE(percent_decode("%zz").has_value());
  CHECK_FALSE(percent_decode("ab%").has_value());
}

TEST_CASE("The local flag is read from the query string") {
  CHECK(parse_local_flag("").value() == false);
  CHECK(parse_local_flag("local=true").value() == true);
  CHECK(parse_local_flag("local=1").value() == true);
  CHECK(parse_local_flag("local").value() == true);
  CHECK(parse_local_flag("x=1&local=false").value() == false);
  CHECK(parse_local_flag("local=%74rue").value() == true);
  CHECK(parse_local_flag("a=b&&local=true&").value() == true);
  CHECK_FALSE(parse_local_flag("local=yes").ok());
  CHECK(parse_local_flag("local=yes").err().code == errc::bad_request);
  CHECK_FALSE(parse_local_flag("x=%zz").ok());
}

TEST_CASE("A target splits into path and query, dropping a fragment") {
  auto t = split_target("/entry/abc?local=true#frag");
  CHECK(t.path == "/entry/abc");
  CHECK(t.query == "local=true");
  CHECK(split_target("/stats").query.empty());
  CHECK(split_target("/stats#x").path == "/stats");
}
