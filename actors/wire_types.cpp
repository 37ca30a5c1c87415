#include "actors/wire_types.hpp"

#include <string>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>
#include <caf/make_message.hpp>
#include <caf/message.hpp>
#include <caf/to_string.hpp>

namespace ferro {

void register_wire_types(caf::actor_system_config& cfg) {
  cfg.add_message_type<namespace_key>("ferro.namespace_key");
  cfg.add_message_type<cache_entry>("ferro.cache_entry");
  cfg.add_message_type<log_record>("ferro.log_record");
  cfg.add_message_type<log_batch>("ferro.log_batch");
  cfg.add_message_type<ns_position>("ferro.ns_position");
  cfg.add_message_type<insert_request>("ferro.insert_request");
  cfg.add_message_type<insert_reply>("ferro.insert_reply");
  cfg.add_message_type<query_request>("ferro.query_request");
  cfg.add_message_type<query_reply>("ferro.query_reply");
  cfg.add_message_type<feedback_request>("ferro.feedback_request");
  cfg.add_message_type<feedback_reply>("ferro.feedback_reply");
  cfg.add_message_type<delete_request>("ferro.delete_request");
  cfg.add_message_type<delete_reply>("ferro.delete_reply");
  cfg.add_message_type<invalidate_request>("ferro.invalidate_request");
  cfg.add_message_type<invalidate_reply>("ferro.invalidate_reply");
}

namespace {

// Samples with every field away from its default, so that a field an
// inspect() forgets comes back different.
const namespace_key sample_key{"model::384", "tenant-a", "conversation-7"};

cache_entry sample_entry() {
  cache_entry e;
  e.uuid = "0f8e-sample";
  e.embedding = {0.6f, -0.8f, 0.0f, 1e-7f};
  e.response = std::string("binary\0response", 15);
  e.query_text = "what is the capital of France?";
  e.created_at_ms = 1700000000123;
  e.expires_at_ms = 1700000060123;
  e.access_count = 42;
  e.last_accessed_ms = 1700000001000;
  return e;
}

log_record sample_record(log_op op) {
  log_record r;
  r.op = op;
  r.ns = sample_key;
  r.ns_seq = 987654321;
  r.epoch = 17;
  r.entry = sample_entry();
  r.uuid = "removed-uuid";
  r.reason = removal_reason::evicted;
  r.feedback = feedback_fields{0.8125, true, 2, "how tall is the Eiffel tower in metres?"};
  r.feedback_table = "fq2 40 0.025\n1,37,12,3\n";
  return r;
}

template <class T>
status round_trip(caf::actor_system& sys, const char* name, const T& sample) {
  std::vector<char> buf;
  caf::binary_serializer sink{sys, buf};
  auto msg = caf::make_message(sample);
  if (auto err = sink(msg))
    return error{errc::internal,
                 std::string("wire self-test: cannot serialise ") + name + ": " + sys.render(err)};
  caf::binary_deserializer source{sys, buf};
  caf::message back;
  if (auto err = source(back))
    return error{errc::internal,
                 std::string("wire self-test: cannot deserialise ") + name + ": " + sys.render(err)};
  if (!back.match_elements<T>() || !(back.get_as<T>(0) == sample))
    return error{errc::internal, std::string("wire self-test: ") + name + " does not survive the wire"};
  return {};
}

} // namespace

status wire_self_test(caf::actor_system& sys) {
  insert_request ins{sample_key, {0.25f, 0.5f}, "resp", "text", "given-uuid", 3600, true};
  insert_request no_ttl = ins;
  no_ttl.ttl_seconds.reset();
  no_ttl.local = false;
  query_request query{sample_key, {1.0f, 2.0f, 3.0f}, 0.875, "query text", true, true, 0.0625};
  query_request no_bound = query;
  no_bound.max_error_rate.reset();
  no_bound.strict_check = false;
  query_reply hit{true,           "id-1",         "answer",      0.9375,  true,
                  "conversation", "matched text", "error_bound", 0.03125, 0.046875};
  query_reply plain_hit = hit;
  plain_hit.error_estimate.reset();
  plain_hit.error_bound.reset();
  plain_hit.decided_by = "threshold";
  feedback_request fb{sample_key, "id-1", 0.90625, "feedback query text", true, true};
  invalidate_request inval{sample_key, {0.5f}, 0.75, true};
  for (auto st : {
           round_trip(sys, "namespace_key", sample_key),
           round_trip(sys, "ns_position", ns_position{true, 41, 3, 4, 17, true, 40}),
           round_trip(sys, "cache_entry", sample_entry()),
           round_trip(sys, "log_record (insert)", sample_record(log_op::insert)),
           round_trip(sys, "log_record (remove)", sample_record(log_op::remove)),
           round_trip(sys, "log_record (feedback)", sample_record(log_op::feedback)),
           round_trip(sys, "log_record (feedback table)", sample_record(log_op::feedback_table)),
           round_trip(sys, "log_batch",
                      log_batch{{sample_record(log_op::void_), sample_record(log_op::insert)}}),
           round_trip(sys, "insert_request", ins),
           round_trip(sys, "insert_request without ttl", no_ttl),
           round_trip(sys, "insert_reply", insert_reply{"new-id"}),
           round_trip(sys, "query_request", query),
           round_trip(sys, "query_request without max_error_rate", no_bound),
           round_trip(sys, "query_reply", hit),
           round_trip(sys, "query_reply without error bound", plain_hit),
           round_trip(sys, "feedback_request", fb),
           round_trip(sys, "feedback_reply", feedback_reply{}),
           round_trip(sys, "delete_request", delete_request{"gone", true}),
           round_trip(sys, "delete_reply", delete_reply{true}),
           round_trip(sys, "invalidate_request", inval),
           round_trip(sys, "invalidate_reply", invalidate_reply{{"a", "b"}}),
       })
    if (!st)
      return st;
  return {};
}

} // namespace ferro
