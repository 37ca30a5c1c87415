#include <catch2/catch.hpp>

#include <string>

#include "http/responses.hpp"
#include "json_check.hpp"
#include "test_service.hpp"

using namespace ferro;
using namespace ferro::test;
using Catch::Matchers::Contains;

namespace {

const std::string query_json = R"({"embedding":[0.1,0.2],"model_id":"m"})";
const std::string insert_json = R"({"embedding":[0.1,0.2],"response":"r","query_text":"q","model_id":"m"})";

std::string header(const http_response& res, std::string_view name) {
  for (const auto& [k, v] : res.headers)
    if (k == name)
      return v;
  return {};
}

struct fixture {
  recording_service svc;
  http_options opts;
};

} // namespace

TEST_CASE_METHOD(fixture, "An unknown route is a 404 JSON error") {
  for (std::string target : {"/", "/nope", "/insert/", "/Insert", "/entry", "/admin", "/stats/x", "*"}) {
    INFO(target);
    auto res = call(svc, opts, "GET", target);
    CHECK(res.status == 404);
    CHECK_FALSE(error_of(res).empty());
  }
}

TEST_CASE_METHOD(fixture, "A known route with the wrong method is a 405 with Allow") {
  struct c {
    std::string method, target, allow;
  };
  for (const auto& [method, target, allow] : std::vector<c>{
           {"GET", "/insert", "POST"},
           {"PUT", "/query", "POST"},
           {"GET", "/entry/abc", "DELETE"},
           {"POST", "/entry/abc", "DELETE"},
           {"GET", "/admin/invalidate", "POST"},
           {"GET", "/admin/compact", "POST"},
           {"POST", "/admin/entry-stats", "GET"},
           {"DELETE", "/stats", "GET"},
           {"POST", "/cluster/status", "GET"},
           {"POST", "/metrics", "GET"},
           {"HEAD", "/health", "GET"},
           {"get", "/health", "GET"},
       }) {
    INFO(method << " " << target);
    auto res = call(svc, opts, method, target, "", "");
    CHECK(res.status == 405);
    CHECK(header(res, "Allow") == allow);
    CHECK_THAT(error_of(res), Contains(allow));
  }
  CHECK(svc.total_calls() == 0);
}

TEST_CASE_METHOD(fixture, "A POST body whose Content-Type is not JSON is a 415") {
  for (std::string ct : {"", "text/plain", "application/x-www-form-urlencoded", "application/jsonx",
                         "application/json; charset=latin1", "application/vnd.api+json"}) {
    INFO(ct);
    auto res = call(svc, opts, "POST", "/query", query_json, ct);
    CHECK(res.status == 415);
    CHECK_THAT(error_of(res), Contains("Content-Type"));
  }
  CHECK(svc.queries.empty());
}

TEST_CASE_METHOD(fixture, "JSON Content-Types with parameters and any case are accepted") {
  for (std::string ct :
       {"application/json", "application/json; charset=utf-8", "Application/JSON;charset=UTF-8",
        " application/json ; charset=\"utf-8\"", "application/json; foo=bar"}) {
    INFO(ct);
    CHECK(call(svc, opts, "POST", "/query", query_json, ct).status == 200);
  }
}

TEST_CASE_METHOD(fixture, "Compact needs neither a body nor a Content-Type") {
  auto res = call(svc, opts, "POST", "/admin/compact", "", "");
  REQUIRE(res.status == 200);
  CHECK(res.body == R"({"status":"ok","entries_snapshotted":12,"wal_sequence":345})");
  CHECK(svc.compactions == 1);
}

TEST_CASE_METHOD(fixture, "Auth rejects a missing or wrong token on every route but health and metrics") {
  opts.auth_token = "tok";
  for (auto [method, target] : std::vector<std::pair<std::string, std::string>>{{"POST", "/insert"},
                                                                                {"POST", "/query"},
                                                                                {"DELETE", "/entry/x"},
                                                                                {"POST", "/admin/invalidate"},
                                                                                {"POST", "/admin/compact"},
                                                                                {"GET", "/admin/entry-stats"},
                                                                                {"GET", "/stats"},
                                                                                {"GET", "/cluster/status"},
                                                                                {"GET", "/nope"},
                                                                                {"POST", "/health"}}) {
    INFO(method << " " << target);
    for (std::string auth : {"", "Bearer nope", "Bearer tok2", "tok", "Basic tok"}) {
      auto res = call(svc, opts, method, target, insert_json, "application/json", auth);
      CHECK(res.status == 401);
      CHECK(res.body == R"({"error":"unauthorized"})");
    }
  }
  CHECK(svc.total_calls() == 0);
  CHECK(call(svc, opts, "GET", "/health").status == 200);
  CHECK(call(svc, opts, "GET", "/metrics").status == 200);
  CHECK(call(svc, opts, "POST", "/query", query_json, "application/json", "Bearer tok").status == 200);
}

TEST_CASE_METHOD(fixture, "Auth is checked before the size limit and the route") {
  opts.auth_token = "tok";
  opts.max_body_bytes = 4;
  CHECK(call(svc, opts, "POST", "/insert", insert_json).status == 401);
  CHECK(call(svc, opts, "POST", "/insert", insert_json, "application/json", "Bearer tok").status == 413);
}

TEST_CASE_METHOD(fixture, "A body larger than max_body_bytes is a 413") {
  opts.max_body_bytes = query_json.size() - 1;
  auto res = call(svc, opts, "POST", "/query", query_json);
  CHECK(res.status == 413);
  CHECK_THAT(error_of(res), Contains("larger"));
  opts.max_body_bytes = query_json.size();
  CHECK(call(svc, opts, "POST", "/query", query_json).status == 200);
}

TEST_CASE_METHOD(fixture, "An insert answers with the id and status ok") {
  auto res = call(svc, opts, "POST", "/insert", insert_json);
  REQUIRE(res.status == 200);
  CHECK(res.content_type == "application/json");
  CHECK(res.body == R"({"id":"00000000-0000-4000-8000-000000000001","status":"ok"})");
}

TEST_CASE_METHOD(fixture, "A query miss is exactly hit false") {
  auto res = call(svc, opts, "POST", "/query", query_json);
  REQUIRE(res.status == 200);
  CHECK(res.body == R"({"hit":false})");
}

TEST_CASE_METHOD(fixture, "A query hit carries id, response, similarity and exact_match, without scope") {
  query_reply r{true, "id-1", "answer \"quoted\"\n", 0.97, false, ""};
  r.matched_query_text = "the \"question\"";
  svc.query_result = r;
  auto res = call(svc, opts, "POST", "/query", query_json);
  REQUIRE(res.status == 200);
  CHECK(res.body ==
        R"({"hit":true,"id":"id-1","response":"answer \"quoted\"\n","similarity":0.97,"exact_match":false,)"
        R"("matched_query_text":"the \"question\"","decided_by":"threshold"})");
}

TEST_CASE_METHOD(fixture, "A hit decided by the error bound carries its estimate and bound") {
  query_reply r{true, "id-1", "a", 0.9, false, ""};
  r.decided_by = "error_bound";
  r.error_estimate = 0.25;
  r.error_bound = 0.5;
  svc.query_result = r;
  auto res = call(svc, opts, "POST", "/query", query_json);
  REQUIRE(res.status == 200);
  CHECK(res.body ==
        R"({"hit":true,"id":"id-1","response":"a","similarity":0.9,"exact_match":false,)"
        R"("matched_query_text":"","decided_by":"error_bound","error_estimate":0.25,"error_bound":0.5})");
}

TEST_CASE_METHOD(fixture, "A query hit reports scope only when the request had a conversation_id") {
  svc.query_result = query_reply{true, "id-1", "a", 1.0, true, "conversation"};
  auto res = call(svc, opts, "POST", "/query", R"({"embedding":[1],"model_id":"m","conversation_id":"c"})");
  REQUIRE(res.status == 200);
  CHECK(res.body ==
        R"({"hit":true,"id":"id-1","response":"a","similarity":1,"exact_match":true,"matched_query_text":"",)"
        R"("decided_by":"exact","scope":"conversation"})");
  res = call(svc, opts, "POST", "/query", R"({"embedding":[1],"model_id":"m","conversation_id":" "})");
  CHECK_FALSE(json_doc{res.body}.has("scope"));
  svc.query_result = query_reply{};
  res = call(svc, opts, "POST", "/query", R"({"embedding":[1],"model_id":"m","conversation_id":"c"})");
  CHECK(res.body == R"({"hit":false})");
}

TEST_CASE_METHOD(fixture, "The local flag reaches every data route") {
  CHECK(call(svc, opts, "POST", "/insert?local=true", insert_json).status == 200);
  CHECK(call(svc, opts, "POST", "/query?local=true", query_json).status == 200);
  CHECK(call(svc, opts, "DELETE", "/entry/abc?local=true").status == 200);
  CHECK(call(svc, opts, "POST", "/admin/invalidate?local=1",
             R"({"embedding":[1],"model_id":"m","threshold":0.5})")
            .status == 200);
  CHECK(call(svc, opts, "POST", "/query", query_json).status == 200);
  CHECK(svc.inserts.at(0).local);
  CHECK(svc.queries.at(0).local);
  CHECK_FALSE(svc.queries.at(1).local);
  CHECK(svc.deletes.at(0).local);
  CHECK(svc.deletes.at(0).uuid == "abc");
  CHECK(svc.invalidations.at(0).local);
  auto res = call(svc, opts, "POST", "/query?local=maybe", query_json);
  CHECK(res.status == 400);
  CHECK_THAT(error_of(res), Contains("local"));
}

TEST_CASE_METHOD(fixture, "Delete percent-decodes the uuid and answers deleted true") {
  auto res = call(svc, opts, "DELETE", "/entry/a%20b%C3%A9");
  REQUIRE(res.status == 200);
  CHECK(res.body == R"({"deleted":true})");
  CHECK(svc.deletes.at(0).uuid == "a b\xC3\xA9");
}

TEST_CASE_METHOD(fixture, "Delete of an unknown id is a 404 JSON error") {
  svc.delete_result = delete_reply{false};
  auto res = call(svc, opts, "DELETE", "/entry/missing");
  CHECK(res.status == 404);
  CHECK_THAT(error_of(res), Contains("missing"));
  svc.delete_result = error{errc::not_found, "no such entry"};
  res = call(svc, opts, "DELETE", "/entry/missing");
  CHECK(res.status == 404);
  CHECK(error_of(res) == "no such entry");
}

TEST_CASE_METHOD(fixture, "Delete rejects malformed uuids in the path") {
  for (std::string target : std::vector<std::string>{"/entry/", "/entry/a%2Fb", "/entry/a/b", "/entry/%zz",
                                                     "/entry/%FF", "/entry/" + std::string(129, 'x')}) {
    INFO(target);
    auto res = call(svc, opts, "DELETE", target);
    CHECK(res.status == 400);
    CHECK_THAT(error_of(res), Contains("uuid"));
  }
  CHECK(call(svc, opts, "DELETE", "/entry/" + std::string(128, 'x')).status == 200);
  CHECK(svc.deletes.size() == 1);
}

TEST_CASE_METHOD(fixture, "Invalidate answers with the count and the uuids") {
  svc.invalidate_result = invalidate_reply{{"a", "b"}};
  auto res =
      call(svc, opts, "POST", "/admin/invalidate", R"({"embedding":[1],"model_id":"m","threshold":0.5})");
  REQUIRE(res.status == 200);
  CHECK(res.body == R"({"invalidated_count":2,"uuids":["a","b"]})");
  svc.invalidate_result = invalidate_reply{};
  res = call(svc, opts, "POST", "/admin/invalidate", R"({"embedding":[1],"model_id":"m","threshold":0.5})");
  CHECK(res.body == R"({"invalidated_count":0,"uuids":[]})");
}

TEST_CASE_METHOD(fixture, "Entry stats render timestamps as Unix seconds or null") {
  entry_stats_reply r;
  r.namespaces["m::t"] = {top_entry{"u1", 5, 1700000000123, "hello..."}, top_entry{"u2", 0, 0, ""}};
  svc.entry_stats_result = r;
  auto res = call(svc, opts, "GET", "/admin/entry-stats");
  REQUIRE(res.status == 200);
  CHECK(res.body ==
        R"({"namespaces":{"m::t":{"top_entries":[)"
        R"({"uuid":"u1","access_count":5,"last_accessed_at":1700000000.123,"query_text_preview":"hello..."},)"
        R"({"uuid":"u2","access_count":0,"last_accessed_at":null,"query_text_preview":""}]}}})");
}

TEST_CASE_METHOD(fixture, "Health is ok when ready and 503 starting while recovering") {
  auto res = call(svc, opts, "GET", "/health");
  REQUIRE(res.status == 200);
  CHECK(res.body == R"({"status":"ok","node_id":"node-1","entry_count":3})");
  svc.health_value.ready = false;
  res = call(svc, opts, "GET", "/health");
  CHECK(res.status == 503);
  json_doc doc{res.body};
  CHECK(doc["status"].get_string().value() == "starting");
  CHECK_FALSE(error_of(res).empty());
}

TEST_CASE_METHOD(fixture, "Stats render namespaces, hnsw settings and counters with hit_rate") {
  stats_reply r;
  r.entry_count = 7;
  r.max_nb_connection = 16;
  r.ef_construction = 200;
  r.ef_search = 32;
  r.namespaces["m"] = namespace_stats{7, 3, 1700000000000, 1700000001500, 9};
  r.namespaces["empty"] = namespace_stats{};
  svc.stats_result = r;
  svc.metrics().queries_total = 4;
  svc.metrics().queries_hit = 3;
  svc.metrics().queries_miss = 1;
  svc.metrics().compactions = 2;
  auto res = call(svc, opts, "GET", "/stats");
  REQUIRE(res.status == 200);
  json_doc doc{res.body};
  CHECK(doc["entry_count"].get_uint64().value() == 7);
  CHECK(doc["hnsw"]["ef_search"].get_uint64().value() == 32);
  CHECK(doc["namespaces"]["m"]["dimension"].get_uint64().value() == 3);
  CHECK(doc["namespaces"]["m"]["oldest_entry_ts"].get_double().value() == 1700000000.0);
  CHECK(doc["namespaces"]["m"]["newest_entry_ts"].get_double().value() == 1700000001.5);
  CHECK(doc["namespaces"]["m"]["total_accesses"].get_uint64().value() == 9);
  CHECK(doc["namespaces"]["empty"]["oldest_entry_ts"].is_null());
  auto counters = doc["counters"];
  CHECK(counters["queries_total"].get_uint64().value() == 4);
  CHECK(counters["hit_rate"].get_double().value() == 0.75);
  CHECK(counters["compactions"].get_uint64().value() == 2);
  for (auto key : {"queries_hit", "queries_miss", "inserts_total", "evictions_total", "expirations_total",
                   "deletions_total", "invalidations_total", "exact_match_hits_total",
                   "replication_writes_total", "read_repairs_total"})
    CHECK_FALSE(counters[key].error());
}

TEST_CASE_METHOD(fixture, "The hit rate is zero before any query") {
  auto res = call(svc, opts, "GET", "/stats");
  json_doc doc{res.body};
  CHECK(doc["counters"]["hit_rate"].get_double().value() == 0.0);
}

TEST_CASE_METHOD(fixture, "Cluster status in single mode lists this node") {
  auto res = call(svc, opts, "GET", "/cluster/status");
  REQUIRE(res.status == 200);
  CHECK(
      res.body ==
      R"({"mode":"single","self_node_id":"node-1","nodes":["node-1"],"node_count":1,)"
      R"("replication_factor":2,"read_repair_enabled":true,"peer_health":{},"dead_nodes":[],"read_lease":true,)"
      R"("placement_epoch":0,"under_replicated_namespaces":0,"primary_namespaces":0,"namespaces":{}})");
}

TEST_CASE_METHOD(fixture, "Cluster status renders peer health") {
  svc.cluster_value = cluster_status_reply{
      "clustered",
      "a",
      {"a", "b", "c"},
      2,
      false,
      {{"b", {"alive", 0.5, "00000000000000ab", "10.0.0.2:7701"}}, {"c", {"dead", 12.25}}},
      {"c"}};
  svc.cluster_value.placement_epoch = 4;
  svc.cluster_value.read_lease = true;
  svc.cluster_value.under_replicated_namespaces = 1;
  svc.cluster_value.primary_namespaces = 1;
  svc.cluster_value.namespaces["m::t"] = namespace_cluster_state{"primary", 3, "", true, {"b"}, {}};
  auto res = call(svc, opts, "GET", "/cluster/status");
  CHECK(
      res.body ==
      R"({"mode":"clustered","self_node_id":"a","nodes":["a","b","c"],"node_count":3,)"
      R"("replication_factor":2,"read_repair_enabled":false,)"
      R"("peer_health":{"b":{"status":"alive","phi":0.5,"generation":"00000000000000ab","address":"10.0.0.2:7701"},)"
      R"("c":{"status":"dead","phi":12.25,"generation":"","address":""}},)"
      R"("dead_nodes":["c"],"read_lease":true,"placement_epoch":4,"under_replicated_namespaces":1,)"
      R"("primary_namespaces":1,)"
      R"("namespaces":{"m::t":{"role":"primary","epoch":3,"primary":"","serving":true,)"
      R"("replicas":["b"],"in_sync":[]}}})");
}

TEST_CASE_METHOD(fixture, "Service errors map to their HTTP statuses") {
  struct c {
    errc code;
    unsigned status;
  };
  for (auto [code, status] : std::vector<c>{{errc::bad_request, 400},
                                            {errc::unprocessable, 422},
                                            {errc::not_found, 404},
                                            {errc::overloaded, 429},
                                            {errc::unavailable, 503},
                                            {errc::timeout, 504},
                                            {errc::internal, 500}}) {
    svc.query_result = error{code, "dimension mismatch: expected 3"};
    auto res = call(svc, opts, "POST", "/query", query_json);
    CHECK(res.status == status);
    CHECK(error_of(res) == "dimension mismatch: expected 3");
    svc.insert_result = error{code, ""};
    res = call(svc, opts, "POST", "/insert", insert_json);
    CHECK(res.status == status);
    CHECK_FALSE(error_of(res).empty());
  }
}

TEST_CASE_METHOD(fixture, "Every error class of every async route becomes a JSON error") {
  error e{errc::unavailable, "storage down"};
  svc.compact_result = e;
  svc.entry_stats_result = e;
  svc.stats_result = e;
  svc.invalidate_result = e;
  svc.delete_result = e;
  for (auto [method, target, body] : std::vector<std::tuple<std::string, std::string, std::string>>{
           {"POST", "/admin/compact", ""},
           {"GET", "/admin/entry-stats", ""},
           {"GET", "/stats", ""},
           {"DELETE", "/entry/x", ""},
           {"POST", "/admin/invalidate", R"({"embedding":[1],"model_id":"m","threshold":1})"}}) {
    INFO(target);
    auto res = call(svc, opts, method, target, body);
    CHECK(res.status == 503);
    CHECK(error_of(res) == "storage down");
  }
}

TEST_CASE_METHOD(fixture, "A service that answers later still gets exactly one response") {
  svc.defer = true;
  int calls = 0;
  http_response got;
  std::string body = query_json;
  handle_request(request_view{"POST", "/query", "application/json", "", body}, svc, opts,
                 [&](http_response r) {
                   ++calls;
                   got = std::move(r);
                 });
  body.assign(body.size(), 'x'); // the request's buffers may be gone by now
  CHECK(calls == 0);
  svc.flush();
  CHECK(calls == 1);
  CHECK(got.status == 200);
  CHECK(svc.metrics().query_duration.count() == 1);
}

namespace {
class throwing_service : public recording_service {
public:
  void query(query_request, callback<query_reply>) override { throw std::runtime_error("boom"); }
};
} // namespace

TEST_CASE_METHOD(fixture, "A throwing service gives a 500 and no exception") {
  throwing_service t;
  auto res = call(t, opts, "POST", "/query", query_json);
  CHECK(res.status == 500);
  CHECK_FALSE(error_of(res).empty());
}

TEST_CASE_METHOD(fixture, "HTTP counters count requests and errors; durations are observed") {
  call(svc, opts, "POST", "/query", query_json);
  call(svc, opts, "POST", "/insert", insert_json);
  call(svc, opts, "GET", "/nope");
  svc.query_result = error{errc::overloaded, "busy"};
  call(svc, opts, "POST", "/query", query_json);
  auto& m = svc.metrics();
  CHECK(m.http_requests_total == 4);
  CHECK(m.http_errors_total == 2);
  CHECK(m.http_rejected_overload_total == 1);
  CHECK(m.query_duration.count() == 2);
  CHECK(m.insert_duration.count() == 1);
  // Cache events are the service's to count.
  CHECK(m.queries_total == 0);
  CHECK(m.inserts_total == 0);
}

TEST_CASE("Error classes map to the statuses of API.md") {
  CHECK(status_for(errc::bad_request) == 400);
  CHECK(status_for(errc::unprocessable) == 422);
  CHECK(status_for(errc::not_found) == 404);
  CHECK(status_for(errc::overloaded) == 429);
  CHECK(status_for(errc::unavailable) == 503);
  CHECK(status_for(errc::timeout) == 504);
  CHECK(status_for(errc::internal) == 500);
}
