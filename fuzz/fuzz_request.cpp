// libFuzzer target for the HTTP request handler (routing, auth, JSON
// parsing and validation, response rendering), without sockets.
//
// Input: "<method>\n<target>\n<content-type>\n<authorization>\n<body>". An
// empty authorization line runs with auth off; otherwise auth is on with the
// token "fuzz-token". The in-harness service answers inline, derives its
// replies from the request (so arbitrary strings flow back into the JSON and
// Prometheus writers) and injects every error class.
//
// Checked for every input: the handler answers exactly once, with a known
// status; every JSON body is valid JSON; every status >= 400 is a JSON object
// with a string "error"; 500 only when the service returned an internal error.

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include <simdjson.h>

#include "service/cache_service.hpp"
#include "common/namespace_key.hpp"
#include "http/routes.hpp"

namespace {

using namespace ferro;

[[noreturn]] void fail(const char* what, const http_response& res) {
  std::fprintf(stderr, "fuzz_request: %s (status %u, content-type '%s')\nbody: %.2000s\n", what, res.status,
               res.content_type.c_str(), res.body.c_str());
  std::abort();
}

/// Error class chosen from a string, or none.
bool pick_error(std::string_view s, error& out) {
  if (s.size() < 4 || s.substr(0, 4) != "err-")
    return false;
  static constexpr errc codes[] = {errc::bad_request, errc::unprocessable, errc::not_found, errc::overloaded,
                                   errc::unavailable, errc::timeout,       errc::internal};
  out = error{codes[s.size() % 7], s.size() % 2 ? std::string{s} : std::string{}};
  return true;
}

class fuzz_service : public cache_service {
public:
  bool injected_internal = false;
  bool ready = true;
  std::string last_name = "m";

  void insert(insert_request req, callback<insert_reply> done) override {
    last_name = display_name(req.ns);
    if (error e; pick_error(req.ns.model_id, e))
      return fail_with(done, e);
    done(insert_reply{req.uuid.empty() ? "generated-id" : req.uuid});
  }
  void query(query_request req, callback<query_reply> done) override {
    last_name = display_name(req.ns);
    if (error e; pick_error(req.ns.model_id, e))
      return fail_with(done, e);
    query_reply r;
    r.hit = req.embedding.at(0) > 0;
    r.id = req.ns.model_id;
    r.response = req.query_text;
    r.similarity = static_cast<double>(req.embedding[0]); // any float, also huge
    r.exact_match = req.embedding.size() % 2 == 0;
    if (req.ns.has_conversation())
      r.scope = req.embedding.size() % 3 ? "conversation" : "global";
    done(r);
  }
  void remove(delete_request req, callback<delete_reply> done) override {
    if (error e; pick_error(req.uuid, e))
      return fail_with(done, e);
    done(delete_reply{req.uuid.size() % 2 == 0});
  }
  void invalidate(invalidate_request req, callback<invalidate_reply> done) override {
    last_name = display_name(req.ns);
    if (error e; pick_error(req.ns.model_id, e))
      return fail_with(done, e);
    done(invalidate_reply{{req.ns.model_id, req.ns.cache_scope, req.ns.conversation_id}});
  }
  void compact(callback<compact_reply> done) override { done(compact_reply{1, 2}); }
  void entry_stats(callback<entry_stats_reply> done) override {
    entry_stats_reply r;
    r.namespaces[last_name] = {top_entry{last_name, 3, 1700000000123, last_name.substr(0, 50)}};
    done(r);
  }
  void stats(callback<stats_reply> done) override {
    if (!ready)
      return done(error{errc::unavailable, "starting"});
    stats_reply r{1, 16, 200, 32, {}};
    r.namespaces[last_name] = namespace_stats{1, 3, 1, 2, 3};
    r.namespaces["a\"b\\c\nd"] = namespace_stats{};
    done(r);
  }
  health_reply health() override { return {ready, "node-\"1\"", 1}; }
  cluster_status_reply cluster_status() override {
    return {"single", "node-1", {}, 2, true, {{last_name, {"suspected", 1.5}}}, {"x"}};
  }
  node_metrics& metrics() override { return metrics_; }

private:
  template <class T>
  void fail_with(callback<T>& done, const error& e) {
    injected_internal |= e.code == errc::internal;
    done(e);
  }
  node_metrics metrics_;
};

std::string_view take_line(std::string_view& in) {
  auto nl = in.find('\n');
  auto line = in.substr(0, nl);
  in = nl == std::string_view::npos ? std::string_view{} : in.substr(nl + 1);
  return line;
}

bool known_status(unsigned s) {
  switch (s) {
    case 200:
    case 400:
    case 401:
    case 404:
    case 405:
    case 413:
    case 415:
    case 422:
    case 429:
    case 500:
    case 503:
    case 504:
      return true;
    default:
      return false;
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  request_view req;
  req.method = take_line(in);
  req.target = take_line(in);
  req.content_type = take_line(in);
  req.authorization = take_line(in);
  req.body = in;

  http_options opts;
  opts.max_dimension = 64;
  opts.max_body_bytes = 1 << 16;
  opts.max_response_bytes = 256;
  opts.max_query_text_bytes = 128;
  if (!req.authorization.empty())
    opts.auth_token = "fuzz-token";

  fuzz_service svc;
  svc.ready = size % 5 != 0;
  int answers = 0;
  http_response res;
  handle_request(req, svc, opts, [&](http_response r) {
    ++answers;
    res = std::move(r);
  });

  if (answers != 1)
    fail("handler did not answer exactly once", res);
  if (!known_status(res.status))
    fail("unexpected status", res);
  if (res.status == 500 && !svc.injected_internal)
    fail("500 without an internal error from the service", res);
  if (res.content_type == "application/json") {
    static simdjson::dom::parser parser;
    simdjson::dom::element root;
    if (parser.parse(res.body).get(root))
      fail("response body is not valid JSON", res);
    simdjson::dom::object obj;
    if (root.get_object().get(obj))
      fail("response body is not a JSON object", res);
    std::string_view msg;
    if (res.status >= 400 && obj["error"].get_string().get(msg))
      fail("error response without a string \"error\"", res);
  } else if (res.status >= 400) {
    fail("error response that is not JSON", res);
  } else if (res.body.empty() || res.body.back() != '\n') {
    fail("metrics exposition does not end with a newline", res);
  }
  return 0;
}
