#include "http/request_parsing.hpp"

#include <cfloat>
#include <cmath>
#include <memory>
#include <string>

#include <simdjson.h>

#include "common/namespace_key.hpp"
#include "http/utf8.hpp"

namespace ferro {

namespace {

namespace dom = simdjson::dom;

// Parsers keep their buffers between documents (the point of reusing them);
// one that grew beyond this for a rare large body is dropped afterwards so
// that each I/O thread does not pin tens of MiB.
constexpr std::size_t retained_parser_capacity = 1 << 20;

error bad(std::string msg) {
  return error{errc::bad_request, std::move(msg)};
}
error unprocessable(std::string msg) {
  return error{errc::unprocessable, std::move(msg)};
}

/// The thread's parser, recycled after large documents when released.
class parser_lease {
public:
  parser_lease() {
    if (!slot())
      slot() = std::make_unique<dom::parser>();
  }
  ~parser_lease() {
    if (slot()->capacity() > retained_parser_capacity)
      slot().reset();
  }
  parser_lease(const parser_lease&) = delete;
  parser_lease& operator=(const parser_lease&) = delete;
  dom::parser& get() { return *slot(); }

private:
  static std::unique_ptr<dom::parser>& slot() {
    thread_local std::unique_ptr<dom::parser> parser;
    return parser;
  }
};

result<dom::object> parse_object(dom::parser& parser, std::string_view body) {
  // Checked here, not by simdjson: an empty view may have a null data
  // pointer, which simdjson would hand to memcpy.
  if (body.empty())
    return bad("request body is empty; expected a JSON object");
  dom::element root;
  if (auto ec = parser.parse(body.data(), body.size(), true).get(root)) {
    switch (ec) {
      case simdjson::EMPTY:
        return bad("request body is empty; expected a JSON object");
      case simdjson::UTF8_ERROR:
        return bad("request body is not valid UTF-8");
      case simdjson::DEPTH_ERROR:
        return bad("request body is nested too deeply");
      // simdjson also rejects integers beyond 64 bits and numbers beyond
      // double range this way: out of range for every field anyway.
      case simdjson::NUMBER_ERROR:
        return bad("request body is not valid JSON: a number is malformed or out of range");
      case simdjson::MEMALLOC:
        return error{errc::internal, "out of memory parsing the request"};
      default:
        return bad(std::string{"request body is not valid JSON: "} + simdjson::error_message(ec));
    }
  }
  dom::object obj;
  if (root.get_object().get(obj))
    return unprocessable("request body must be a JSON object");
  return obj;
}

/// A field that is absent or null reads as nullptr.
bool field_present(const dom::object& obj, std::string_view name, dom::element& out) {
  if (obj.at_key(name).get(out))
    return false;
  return !out.is_null();
}

result<std::string_view> required_string(const dom::object& obj, std::string_view name) {
  dom::element el;
  if (obj.at_key(name).get(el))
    return unprocessable("missing required field: " + std::string{name});
  std::string_view s;
  if (el.get_string().get(s))
    return unprocessable(std::string{name} + " must be a string");
  return s;
}

/// Absent, null and blank all read as "" (API.md: blank counts as absent).
result<std::string_view> optional_string(const dom::object& obj, std::string_view name) {
  dom::element el;
  if (!field_present(obj, name, el))
    return std::string_view{};
  std::string_view s;
  if (el.get_string().get(s))
    return unprocessable(std::string{name} + " must be a string");
  return is_blank(s) ? std::string_view{} : s;
}

status check_size(std::string_view name, std::string_view value, std::size_t limit) {
  if (value.size() > limit)
    return bad(std::string{name} + " is " + std::to_string(value.size()) + " bytes; the limit is " +
               std::to_string(limit));
  return {};
}

result<namespace_key> parse_namespace(const dom::object& obj) {
  auto model = required_string(obj, "model_id");
  if (!model)
    return model.err();
  if (is_blank(*model))
    return bad("model_id must not be blank");
  auto scope = optional_string(obj, "cache_scope");
  if (!scope)
    return scope.err();
  auto conv = optional_string(obj, "conversation_id");
  if (!conv)
    return conv.err();
  return namespace_key{std::string{*model}, std::string{*scope}, std::string{*conv}};
}

/// Straight from the parsed array into the float vector.
status parse_embedding(const dom::object& obj, const http_options& opts, std::vector<float>& out) {
  dom::element el;
  if (!field_present(obj, "embedding", el))
    return unprocessable("missing required field: embedding");
  dom::array arr;
  if (el.get_array().get(arr))
    return unprocessable("embedding must be an array of numbers");
  // simdjson saturates the element count at 0xFFFFFF; anything that large is
  // far above any dimension limit anyway.
  const std::size_t n = arr.size();
  if (n == 0)
    return bad("embedding must not be empty");
  if (n > opts.max_dimension)
    return bad("embedding has " + std::to_string(n) + " values; the limit is " +
               std::to_string(opts.max_dimension));
  out.clear();
  out.reserve(n);
  bool any_nonzero = false;
  std::size_t i = 0;
  for (dom::element v : arr) {
    double d = 0;
    if (v.get_double().get(d))
      return unprocessable("embedding[" + std::to_string(i) + "] must be a number");
    if (!(std::fabs(d) <= static_cast<double>(FLT_MAX)))
      return bad("embedding[" + std::to_string(i) + "] is outside the 32-bit float range");
    const float f = static_cast<float>(d);
    any_nonzero |= (f != 0.0f);
    out.push_back(f);
    ++i;
  }
  if (!any_nonzero)
    return bad("embedding must not be all zeros");
  return {};
}

/// Threshold in [0,1]; absent or null gives `fallback` when there is one.
result<double> parse_threshold(const dom::object& obj, std::optional<double> fallback) {
  dom::element el;
  if (!field_present(obj, "threshold", el)) {
    if (fallback)
      return *fallback;
    return unprocessable("missing required field: threshold");
  }
  double t = 0;
  if (el.get_double().get(t))
    return unprocessable("threshold must be a number");
  if (!(t >= 0.0 && t <= 1.0))
    return bad("threshold must be between 0 and 1");
  return t;
}

result<std::optional<std::int64_t>> parse_ttl(const dom::object& obj, const http_options& opts) {
  dom::element el;
  if (!field_present(obj, "ttl_seconds", el))
    return std::optional<std::int64_t>{};
  const std::string too_large = "ttl_seconds must be at most " + std::to_string(opts.max_ttl_seconds);
  switch (el.type()) {
    case dom::element_type::INT64: {
      std::int64_t v = el.get_int64().value_unsafe();
      if (v < 0)
        return bad("ttl_seconds must be >= 0");
      if (v > opts.max_ttl_seconds)
        return bad(too_large);
      return std::optional<std::int64_t>{v};
    }
    case dom::element_type::UINT64:
      return bad(too_large);
    case dom::element_type::DOUBLE: {
      // 60.0 is accepted as 60; 1.5 is not a whole number of seconds.
      double d = el.get_double().value_unsafe();
      if (d < 0)
        return bad("ttl_seconds must be >= 0");
      if (d != std::floor(d))
        return bad("ttl_seconds must be a whole number");
      if (d > static_cast<double>(opts.max_ttl_seconds))
        return bad(too_large);
      return std::optional<std::int64_t>{static_cast<std::int64_t>(d)};
    }
    default:
      return unprocessable("ttl_seconds must be an integer");
  }
}

} // namespace

status validate_uuid(std::string_view uuid, const http_options& opts) {
  if (uuid.empty())
    return bad("uuid must not be empty");
  if (uuid.size() > opts.max_uuid_bytes)
    return bad("uuid is " + std::to_string(uuid.size()) + " bytes; the limit is " +
               std::to_string(opts.max_uuid_bytes));
  if (uuid.find('/') != std::string_view::npos)
    return bad("uuid must not contain '/'");
  if (!http_detail::is_valid_utf8(uuid))
    return bad("uuid is not valid UTF-8");
  return {};
}

result<insert_request> parse_insert_request(std::string_view body, const http_options& opts) {
  parser_lease lease;
  auto obj = parse_object(lease.get(), body);
  if (!obj)
    return obj.err();
  insert_request req;
  // Field order of the checks: embedding, response, query_text, model_id,
  // namespace parts, uuid, ttl: the first problem is reported.
  if (auto st = parse_embedding(*obj, opts, req.embedding); !st)
    return st.err();
  auto response = required_string(*obj, "response");
  if (!response)
    return response.err();
  if (auto st = check_size("response", *response, opts.max_response_bytes); !st)
    return st.err();
  auto text = required_string(*obj, "query_text");
  if (!text)
    return text.err();
  if (auto st = check_size("query_text", *text, opts.max_query_text_bytes); !st)
    return st.err();
  auto ns = parse_namespace(*obj);
  if (!ns)
    return ns.err();
  // API.md "Limits": a uuid, when sent, is a non-empty string; unlike the
  // namespace strings a blank one is an error, not "absent" (null is absent).
  std::string_view uuid_text;
  dom::element uuid_el;
  if (field_present(*obj, "uuid", uuid_el)) {
    if (uuid_el.get_string().get(uuid_text))
      return unprocessable("uuid must be a string");
    if (is_blank(uuid_text))
      return bad("uuid must not be blank");
    if (auto st = validate_uuid(uuid_text, opts); !st)
      return st.err();
  }
  auto uuid = &uuid_text;
  auto ttl = parse_ttl(*obj, opts);
  if (!ttl)
    return ttl.err();
  req.ns = std::move(*ns);
  req.response = std::string{*response};
  req.query_text = std::string{*text};
  req.uuid = std::string{*uuid};
  req.ttl_seconds = *ttl;
  return req;
}

result<query_request> parse_query_request(std::string_view body, const http_options& opts) {
  parser_lease lease;
  auto obj = parse_object(lease.get(), body);
  if (!obj)
    return obj.err();
  query_request req;
  if (auto st = parse_embedding(*obj, opts, req.embedding); !st)
    return st.err();
  auto ns = parse_namespace(*obj);
  if (!ns)
    return ns.err();
  auto threshold = parse_threshold(*obj, opts.default_threshold);
  if (!threshold)
    return threshold.err();
  auto text = optional_string(*obj, "query_text");
  if (!text)
    return text.err();
  if (auto st = check_size("query_text", *text, opts.max_query_text_bytes); !st)
    return st.err();
  // Answer quality (docs/quality.md): `check` and `max_error_rate`.
  req.strict_check = opts.default_strict_check;
  dom::element el;
  if (field_present(*obj, "check", el)) {
    std::string_view check;
    if (el.get_string().get(check))
      return unprocessable("check must be a string (\"off\" or \"strict\")");
    if (check == "strict")
      req.strict_check = true;
    else if (check == "off")
      req.strict_check = false;
    else
      return bad("check must be \"off\" or \"strict\"");
  }
  if (field_present(*obj, "max_error_rate", el)) {
    double d = 0;
    if (el.get_double().get(d))
      return unprocessable("max_error_rate must be a number");
    if (!(d > 0.0 && d <= 0.5))
      return bad("max_error_rate must be greater than 0 and at most 0.5");
    req.max_error_rate = d;
  }
  req.ns = std::move(*ns);
  req.threshold = *threshold;
  req.query_text = std::string{*text};
  return req;
}

result<feedback_request> parse_feedback_request(std::string_view body, const http_options& opts) {
  parser_lease lease;
  auto obj = parse_object(lease.get(), body);
  if (!obj)
    return obj.err();
  feedback_request req;
  auto id = required_string(*obj, "id");
  if (!id)
    return id.err();
  if (auto st = validate_uuid(*id, opts); !st)
    return error{st.err().code, "id: " + st.err().message};
  auto ns = parse_namespace(*obj);
  if (!ns)
    return ns.err();
  dom::element el;
  if (!field_present(*obj, "similarity", el))
    return unprocessable("missing required field: similarity");
  double similarity = 0;
  if (el.get_double().get(similarity))
    return unprocessable("similarity must be a number");
  if (!(similarity >= 0.0 && similarity <= 1.0))
    return bad("similarity must be between 0 and 1");
  if (!field_present(*obj, "correct", el))
    return unprocessable("missing required field: correct");
  bool correct = false;
  if (el.get_bool().get(correct))
    return unprocessable("correct must be a boolean");
  auto text = optional_string(*obj, "query_text");
  if (!text)
    return text.err();
  if (auto st = check_size("query_text", *text, opts.max_query_text_bytes); !st)
    return st.err();
  req.ns = std::move(*ns);
  req.id = std::string{*id};
  req.similarity = similarity;
  req.correct = correct;
  req.query_text = std::string{*text};
  return req;
}

result<invalidate_request> parse_invalidate_request(std::string_view body, const http_options& opts) {
  parser_lease lease;
  auto obj = parse_object(lease.get(), body);
  if (!obj)
    return obj.err();
  invalidate_request req;
  if (auto st = parse_embedding(*obj, opts, req.embedding); !st)
    return st.err();
  auto ns = parse_namespace(*obj);
  if (!ns)
    return ns.err();
  auto threshold = parse_threshold(*obj, std::nullopt);
  if (!threshold)
    return threshold.err();
  req.ns = std::move(*ns);
  req.threshold = *threshold;
  return req;
}

} // namespace ferro
