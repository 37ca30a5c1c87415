#include <catch2/catch.hpp>

#include <string>

#include "json_check.hpp"
#include "test_service.hpp"

using namespace ferro;
using namespace ferro::test;
using Catch::Matchers::Contains;

namespace {

const std::string emb = R"("embedding":[0.1,0.2,0.3])";

std::string insert_body(const std::string& extra = {}, bool with_embedding = true) {
  std::string b = "{";
  if (with_embedding)
    b += emb + ",";
  b += R"("response":"r","query_text":"q","model_id":"m")";
  if (!extra.empty())
    b += "," + extra;
  return b + "}";
}

std::string query_body(const std::string& extra = {}) {
  std::string b = "{" + emb + R"(,"model_id":"m")";
  if (!extra.empty())
    b += "," + extra;
  return b + "}";
}

struct fixture {
  recording_service svc;
  http_options opts;
  http_response post(std::string_view target, const std::string& body) {
    return call(svc, opts, "POST", target, body);
  }
};

} // namespace

TEST_CASE_METHOD(fixture, "A valid insert reaches the service with every field") {
  auto res = post(
      "/insert", insert_body(R"("uuid":"my-id","ttl_seconds":60,"cache_scope":"t1","conversation_id":"c1")"));
  REQUIRE(res.status == 200);
  REQUIRE(svc.inserts.size() == 1);
  const auto& r = svc.inserts[0];
  CHECK(r.embedding == std::vector<float>{0.1f, 0.2f, 0.3f});
  CHECK(r.response == "r");
  CHECK(r.query_text == "q");
  CHECK(r.ns == namespace_key{"m", "t1", "c1"});
  CHECK(r.uuid == "my-id");
  CHECK(r.ttl_seconds == std::optional<std::int64_t>{60});
  CHECK_FALSE(r.local);
}

TEST_CASE_METHOD(fixture, "Integer embedding values are accepted") {
  REQUIRE(post("/insert", R"({"embedding":[1,0,-2],"response":"r","query_text":"","model_id":"m"})").status ==
          200);
  CHECK(svc.inserts.at(0).embedding == std::vector<float>{1.0f, 0.0f, -2.0f});
}

TEST_CASE_METHOD(fixture, "Blank namespace strings count as absent but a blank uuid is refused") {
  REQUIRE(
      post("/insert", insert_body(R"("cache_scope":"","conversation_id":" \t","ttl_seconds":null)")).status ==
      200);
  const auto& r = svc.inserts.at(0);
  CHECK(r.uuid.empty());
  CHECK(post("/insert", insert_body(R"("uuid":"")")).status == 400);
  CHECK(post("/insert", insert_body(R"("uuid":"  ")")).status == 400);
  CHECK(r.ns == namespace_key{"m", "", ""});
  CHECK_FALSE(r.ttl_seconds.has_value());
  REQUIRE(post("/insert", insert_body(R"("uuid":null,"cache_scope":null)")).status == 200);
  CHECK(svc.inserts.at(1).uuid.empty());
}

TEST_CASE_METHOD(fixture, "Unknown fields are ignored") {
  CHECK(post("/insert", insert_body(R"("extra":{"deep":[1,2,{"x":null}]},"another":"x")")).status == 200);
  CHECK(post("/query", query_body(R"("zzz":true)")).status == 200);
}

TEST_CASE_METHOD(fixture, "Invalid JSON is a 400") {
  for (std::string body :
       {"{", "{\"embedding\":[1,2,]}", "not json", "{\"a\":1} trailing", "[1,2", "{\"a\":tru}",
        "{\"embedding\":[NaN],\"model_id\":\"m\"}", "{\"embedding\":[Infinity]}", "{'a':1}"}) {
    INFO(body);
    auto res = post("/insert", body);
    CHECK(res.status == 400);
    CHECK_THAT(error_of(res), Contains("JSON"));
  }
  CHECK(svc.total_calls() == 0);
}

TEST_CASE_METHOD(fixture, "An empty body on a JSON route is a 400") {
  auto res = call(svc, opts, "POST", "/query", "", "");
  CHECK(res.status == 400);
  CHECK_THAT(error_of(res), Contains("empty"));
  // A default string_view (null data) as well: found by the fuzzer.
  res = call(svc, opts, "POST", "/insert", std::string_view{}, "application/json");
  CHECK(res.status == 400);
  CHECK_THAT(error_of(res), Contains("empty"));
}

TEST_CASE_METHOD(fixture, "Invalid UTF-8 in the body is a 400") {
  auto res = post("/insert", insert_body("\"response2\":\"bad \xC3\x28\""));
  CHECK(res.status == 400);
  CHECK_THAT(error_of(res), Contains("UTF-8"));
}

TEST_CASE_METHOD(fixture, "A body that is not a JSON object is a 422") {
  for (std::string body : {"[1,2,3]", "\"str\"", "42", "null", "true"}) {
    INFO(body);
    auto res = post("/query", body);
    CHECK(res.status == 422);
    CHECK_THAT(error_of(res), Contains("object"));
  }
}

TEST_CASE_METHOD(fixture, "A missing required field is a 422 naming the field") {
  struct c {
    std::string body;
    std::string field;
  };
  for (const auto& [body, field] : std::vector<c>{
           {R"({"response":"r","query_text":"q","model_id":"m"})", "embedding"},
           {"{" + emb + R"(,"query_text":"q","model_id":"m"})", "response"},
           {"{" + emb + R"(,"response":"r","model_id":"m"})", "query_text"},
           {"{" + emb + R"(,"response":"r","query_text":"q"})", "model_id"},
       }) {
    INFO(body);
    auto res = post("/insert", body);
    CHECK(res.status == 422);
    CHECK_THAT(error_of(res), Contains(field));
  }
  auto res = post("/query", "{" + emb + "}");
  CHECK(res.status == 422);
  CHECK_THAT(error_of(res), Contains("model_id"));
}

TEST_CASE_METHOD(fixture, "A field of the wrong type is a 422 naming the field") {
  struct c {
    std::string body;
    std::string field;
  };
  for (const auto& [body, field] : std::vector<c>{
           {insert_body(R"("embedding":"0.1")", false), "embedding"},
           {insert_body(R"("embedding":{"a":1})", false), "embedding"},
           {insert_body(R"("embedding":[0.1,"x"])", false), "embedding[1]"},
           {insert_body(R"("embedding":[0.1,null])", false), "embedding[1]"},
           {insert_body(R"("embedding":[[0.1]])", false), "embedding[0]"},
           {"{" + emb + R"(,"response":5,"query_text":"q","model_id":"m"})", "response"},
           {"{" + emb + R"(,"response":"r","query_text":null,"model_id":"m"})", "query_text"},
           {"{" + emb + R"(,"response":"r","query_text":"q","model_id":7})", "model_id"},
           {insert_body(R"("uuid":5)"), "uuid"},
           {insert_body(R"("ttl_seconds":"60")"), "ttl_seconds"},
           {insert_body(R"("ttl_seconds":true)"), "ttl_seconds"},
           {insert_body(R"("cache_scope":["a"])"), "cache_scope"},
           {insert_body(R"("conversation_id":1)"), "conversation_id"},
       }) {
    INFO(body);
    auto res = post("/insert", body);
    CHECK(res.status == 422);
    CHECK_THAT(error_of(res), Contains(field));
  }
  auto res = post("/query", query_body(R"("threshold":"0.5")"));
  CHECK(res.status == 422);
  CHECK_THAT(error_of(res), Contains("threshold"));
  res = post("/query", query_body(R"("query_text":1)"));
  CHECK(res.status == 422);
  CHECK_THAT(error_of(res), Contains("query_text"));
}

TEST_CASE_METHOD(fixture, "An empty embedding is a 400") {
  auto res = post("/insert", insert_body(R"("embedding":[])", false));
  CHECK(res.status == 400);
  CHECK_THAT(error_of(res), Contains("embedding"));
}

TEST_CASE_METHOD(fixture, "An embedding longer than max_dimension is a 400") {
  opts.max_dimension = 4;
  CHECK(post("/query", R"({"embedding":[1,2,3,4],"model_id":"m"})").status == 200);
  auto res = post("/query", R"({"embedding":[1,2,3,4,5],"model_id":"m"})");
  CHECK(res.status == 400);
  CHECK_THAT(error_of(res), Contains("embedding"));
}

TEST_CASE_METHOD(fixture, "The default dimension limit is 4096") {
  std::string values;
  for (int i = 0; i < 4097; ++i)
    values += (i ? ",0.5" : "0.5");
  auto body = [&](const std::string& v) { return "{\"embedding\":[" + v + "],\"model_id\":\"m\"}"; };
  CHECK(post("/query", body(values)).status == 400);
  values.resize(values.size() - 4);
  REQUIRE(post("/query", body(values)).status == 200);
  CHECK(svc.queries.at(0).embedding.size() == 4096);
}

TEST_CASE_METHOD(fixture, "Embedding values outside the float range are a 400") {
  for (std::string v : {"1e39", "-1e39", "3.5e38", "1e308"}) {
    INFO(v);
    auto res = post("/query", "{\"embedding\":[0.5," + v + "],\"model_id\":\"m\"}");
    CHECK(res.status == 400);
    CHECK_THAT(error_of(res), Contains("embedding[1]"));
  }
  CHECK(post("/query", R"({"embedding":[3.4028234e38],"model_id":"m"})").status == 200);
  // Too large for a double, or an integer beyond 64 bits: a 400 as well.
  for (std::string v : {"1e400", "123456789012345678901234567890"}) {
    auto res = post("/query", "{\"embedding\":[" + v + "],\"model_id\":\"m\"}");
    CHECK(res.status == 400);
    CHECK_THAT(error_of(res), Contains("out of range"));
  }
}

TEST_CASE_METHOD(fixture, "An all-zero embedding is a 400") {
  for (std::string v : {"0", "0,0,0", "0.0,-0.0", "1e-50,0"}) {
    INFO(v);
    auto res = post("/insert", insert_body("\"embedding\":[" + v + "]", false));
    CHECK(res.status == 400);
    CHECK_THAT(error_of(res), Contains("zero"));
  }
}

TEST_CASE_METHOD(fixture, "A blank model_id is a 400") {
  for (std::string m : {"", "  ", "\\t\\n"}) {
    auto res = post("/query", "{" + emb + ",\"model_id\":\"" + m + "\"}");
    CHECK(res.status == 400);
    CHECK_THAT(error_of(res), Contains("model_id"));
  }
}

TEST_CASE_METHOD(fixture, "The threshold must lie in [0,1]") {
  for (std::string t : {"-0.01", "1.0001", "2", "-1"}) {
    INFO(t);
    auto res = post("/query", query_body("\"threshold\":" + t));
    CHECK(res.status == 400);
    CHECK_THAT(error_of(res), Contains("threshold"));
  }
  for (std::string t : {"0", "1", "0.5", "1.0", "0.0"})
    CHECK(post("/query", query_body("\"threshold\":" + t)).status == 200);
  CHECK(svc.queries.at(0).threshold == 0.0);
  CHECK(svc.queries.at(1).threshold == 1.0);
  CHECK(svc.queries.at(2).threshold == 0.5);
}

TEST_CASE_METHOD(fixture, "An absent or null threshold takes the configured default") {
  opts.default_threshold = 0.8;
  REQUIRE(post("/query", query_body()).status == 200);
  REQUIRE(post("/query", query_body(R"("threshold":null)")).status == 200);
  CHECK(svc.queries.at(0).threshold == 0.8);
  CHECK(svc.queries.at(1).threshold == 0.8);
}

TEST_CASE_METHOD(fixture, "The response may be at most 102400 bytes") {
  std::string big(102400, 'x');
  CHECK(
      post("/insert", "{" + emb + R"(,"response":")" + big + R"(","query_text":"","model_id":"m"})").status ==
      200);
  auto res = post("/insert", "{" + emb + R"(,"response":")" + big + R"(x","query_text":"","model_id":"m"})");
  CHECK(res.status == 400);
  CHECK_THAT(error_of(res), Contains("response"));
}

TEST_CASE_METHOD(fixture, "The query_text may be at most 8192 bytes") {
  std::string big(8192, 'q');
  CHECK(post("/insert", "{" + emb + R"(,"response":"r","query_text":")" + big + R"(","model_id":"m"})")
            .status == 200);
  auto res = post("/insert", "{" + emb + R"(,"response":"r","query_text":")" + big + R"(q","model_id":"m"})");
  CHECK(res.status == 400);
  CHECK_THAT(error_of(res), Contains("query_text"));
  res = post("/query", query_body("\"query_text\":\"" + big + "q\""));
  CHECK(res.status == 400);
  CHECK_THAT(error_of(res), Contains("query_text"));
}

TEST_CASE_METHOD(fixture, "A uuid must have at most 128 bytes and no slash") {
  CHECK(post("/insert", insert_body("\"uuid\":\"" + std::string(128, 'u') + "\"")).status == 200);
  auto res = post("/insert", insert_body("\"uuid\":\"" + std::string(129, 'u') + "\""));
  CHECK(res.status == 400);
  CHECK_THAT(error_of(res), Contains("uuid"));
  res = post("/insert", insert_body(R"("uuid":"a/b")"));
  CHECK(res.status == 400);
  CHECK_THAT(error_of(res), Contains("uuid"));
}

TEST_CASE_METHOD(fixture, "ttl_seconds must be a non-negative integer") {
  for (std::string t : {"-1", "1.5", "-0.5", "1e300", "18446744073709551615", "3155760001"}) {
    INFO(t);
    auto res = post("/insert", insert_body("\"ttl_seconds\":" + t));
    CHECK(res.status == 400);
    CHECK_THAT(error_of(res), Contains("ttl_seconds"));
  }
  REQUIRE(post("/insert", insert_body(R"("ttl_seconds":0)")).status == 200);
  REQUIRE(post("/insert", insert_body(R"("ttl_seconds":60.0)")).status == 200);
  CHECK(svc.inserts.at(0).ttl_seconds == std::optional<std::int64_t>{0});
  CHECK(svc.inserts.at(1).ttl_seconds == std::optional<std::int64_t>{60});
}

TEST_CASE_METHOD(fixture, "A query passes namespace, text and default flags to the service") {
  REQUIRE(post("/query",
               query_body(
                   R"("query_text":"Hello  World","cache_scope":"t","conversation_id":"c","threshold":0.7)"))
              .status == 200);
  const auto& q = svc.queries.at(0);
  CHECK(q.ns == namespace_key{"m", "t", "c"});
  CHECK(q.query_text == "Hello  World");
  CHECK(q.threshold == 0.7);
  CHECK(q.embedding.size() == 3);
  REQUIRE(post("/query", query_body(R"("query_text":"   ")")).status == 200);
  CHECK(svc.queries.at(1).query_text.empty());
}

TEST_CASE_METHOD(fixture, "Invalidate requires embedding, threshold and model_id") {
  auto res = post("/admin/invalidate", query_body());
  CHECK(res.status == 422);
  CHECK_THAT(error_of(res), Contains("threshold"));
  res = post("/admin/invalidate", query_body(R"("threshold":1.5)"));
  CHECK(res.status == 400);
  res = post("/admin/invalidate", R"({"threshold":0.9,"model_id":"m"})");
  CHECK(res.status == 422);
  CHECK_THAT(error_of(res), Contains("embedding"));
  REQUIRE(post("/admin/invalidate", query_body(R"("threshold":0.9,"cache_scope":"s")")).status == 200);
  const auto& r = svc.invalidations.at(0);
  CHECK(r.ns == namespace_key{"m", "s", ""});
  CHECK(r.threshold == 0.9);
}

TEST_CASE_METHOD(fixture, "Duplicate keys take the first occurrence") {
  REQUIRE(post("/query", R"({"embedding":[1],"model_id":"first","model_id":"second"})").status == 200);
  CHECK(svc.queries.at(0).ns.model_id == "first");
}

TEST_CASE_METHOD(fixture, "Deeply nested JSON is a 400, not a crash") {
  std::string deep = "{\"x\":" + std::string(5000, '[') + std::string(5000, ']') + "}";
  CHECK(post("/query", deep).status == 400);
}

TEST_CASE_METHOD(fixture, "check and max_error_rate reach the service, defaulted from the options") {
  REQUIRE(post("/query", query_body(R"("check":"strict","max_error_rate":0.05)")).status == 200);
  REQUIRE(svc.queries.size() == 1);
  CHECK(svc.queries[0].strict_check);
  REQUIRE(svc.queries[0].max_error_rate);
  CHECK(*svc.queries[0].max_error_rate == 0.05);
  REQUIRE(post("/query", query_body()).status == 200);
  CHECK_FALSE(svc.queries[1].strict_check);
  CHECK_FALSE(svc.queries[1].max_error_rate);
  opts.default_strict_check = true;
  REQUIRE(post("/query", query_body()).status == 200);
  CHECK(svc.queries[2].strict_check);
  REQUIRE(post("/query", query_body(R"("check":"off","max_error_rate":null)")).status == 200);
  CHECK_FALSE(svc.queries[3].strict_check);
}

TEST_CASE_METHOD(fixture, "Bad check and max_error_rate values are refused before the service") {
  CHECK(post("/query", query_body(R"("check":"loose")")).status == 400);
  CHECK(post("/query", query_body(R"("check":true)")).status == 422);
  CHECK(post("/query", query_body(R"("max_error_rate":0)")).status == 400);
  CHECK(post("/query", query_body(R"("max_error_rate":0.51)")).status == 400);
  CHECK(post("/query", query_body(R"("max_error_rate":-0.1)")).status == 400);
  CHECK(post("/query", query_body(R"("max_error_rate":"0.1")")).status == 422);
  CHECK(svc.queries.empty());
}

TEST_CASE_METHOD(fixture, "Bad feedback fields are a 400 or 422 with a JSON error") {
  const std::string ok = R"("id":"e1","model_id":"m","similarity":0.9,"correct":true)";
  auto status_of = [&](const std::string& body) { return post("/feedback", body).status; };
  CHECK(status_of(R"({"model_id":"m","similarity":0.9,"correct":true})") == 422);
  CHECK(status_of(R"({"id":"e1","similarity":0.9,"correct":true})") == 422);
  CHECK(status_of(R"({"id":"e1","model_id":"m","correct":true})") == 422);
  CHECK(status_of(R"({"id":"e1","model_id":"m","similarity":0.9})") == 422);
  CHECK(status_of(R"({"id":"e1","model_id":"m","similarity":1.01,"correct":true})") == 400);
  CHECK(status_of(R"({"id":"e1","model_id":"m","similarity":"x","correct":true})") == 422);
  CHECK(status_of(R"({"id":"e1","model_id":"m","similarity":0.9,"correct":1})") == 422);
  CHECK(status_of(R"({"id":"","model_id":"m","similarity":0.9,"correct":true})") == 400);
  CHECK(status_of(R"({"id":"a/b","model_id":"m","similarity":0.9,"correct":true})") == 400);
  CHECK(status_of("{" + ok + R"(,"query_text":7})") == 422);
  CHECK(status_of("[1]") == 422);
  auto res = post("/feedback", "{nope");
  CHECK(res.status == 400);
  CHECK_THAT(res.body, Contains("\"error\""));
  // A valid request reaches the service (this test service does not implement feedback: 503).
  CHECK(status_of("{" + ok + "}") == 503);
}
