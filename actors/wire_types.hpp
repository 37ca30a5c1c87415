#pragma once

// How the messages that cross nodes are serialised: one inspect() per wire
// type (CAF 0.17 finds them by argument-dependent lookup), and the names
// every node registers them under. Only light CAF headers here: this is
// included by actors.hpp, and through it by every actor translation unit.

#include <cstdint>
#include <optional>

#include <caf/error.hpp>
#include <caf/fwd.hpp>
#include <caf/meta/load_callback.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/none.hpp>

#include "common/log_record.hpp"
#include "common/status.hpp"
#include "service/messages.hpp"

namespace ferro {

/// Bumped whenever a wire type changes shape or meaning (4: versioned copy
/// sets in confirm and prepare; 6: recall of a lost election state; 7:
/// heartbeats carry recent grants; 8: feedback tables in images); peers of
/// another version are refused at the handshake.
constexpr std::uint32_t wire_version = 8;

/// A batch of log records on its way to the storage actor or a replica.
struct log_batch {
  std::vector<log_record> records;

  friend bool operator==(const log_batch&, const log_batch&) = default;
};

/// Where a namespace's copy on this node stands, for the cluster: the
/// replicas' positions decide who is most advanced at a failover, and where
/// catch-up starts.
struct ns_position {
  bool exists = false;          ///< the node has (had) this namespace
  std::uint64_t last_seq = 0;   ///< highest ns_seq logged here
  std::uint64_t last_epoch = 0; ///< epoch of the newest logged record (0: unknown)
  std::uint64_t epoch = 0;      ///< the highest epoch this copy has accepted
  std::uint64_t entries = 0;
  /// A copy being rebuilt (reset, its image not all here yet): it may lack
  /// acknowledged writes whatever its position says, so no election takes
  /// it for a holder of them.
  bool partial = false;
  /// A leader that took the lead with a log of unknown lineage: where its
  /// own lineage begins. A copy whose log ends before it is rebuilt by the
  /// image, never caught up by the log.
  std::uint64_t lineage_from = 0;

  friend bool operator==(const ns_position&, const ns_position&) = default;

  /// Log order of two copies: the newer epoch wins, then the longer log.
  friend bool ahead_of(const ns_position& a, const ns_position& b) {
    return a.last_epoch != b.last_epoch ? a.last_epoch > b.last_epoch : a.last_seq > b.last_seq;
  }
};

/// A std::optional field on the wire: CAF 0.17 has no inspect() for
/// std::optional, so it travels as a flag and a value and is put back
/// together after loading. Use as `f(..., wire_optional{x.field}, ...)`.
template <class T>
struct wire_optional {
  std::optional<T>& field;
};

template <class Inspector, class T>
typename Inspector::result_type inspect(Inspector& f, wire_optional<T>& x) {
  bool present = x.field.has_value();
  T value = x.field.value_or(T{});
  auto rebuild = caf::meta::load_callback([&]() -> caf::error {
    x.field = present ? std::optional<T>{value} : std::nullopt;
    return caf::none;
  });
  return f(present, value, rebuild);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, namespace_key& x) {
  return f(caf::meta::type_name("ferro.namespace_key"), x.model_id, x.cache_scope, x.conversation_id);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, cache_entry& x) {
  return f(caf::meta::type_name("ferro.cache_entry"), x.uuid, x.embedding, x.response, x.query_text,
           x.created_at_ms, x.expires_at_ms, x.access_count, x.last_accessed_ms);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, feedback_fields& x) {
  return f(caf::meta::type_name("ferro.feedback_fields"), x.similarity, x.correct, x.feature_class,
           x.query_text);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, log_record& x) {
  return f(caf::meta::type_name("ferro.log_record"), x.op, x.ns, x.ns_seq, x.epoch, x.entry, x.uuid, x.reason,
           x.feedback, x.feedback_table);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, log_batch& x) {
  return f(caf::meta::type_name("ferro.log_batch"), x.records);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ns_position& x) {
  return f(caf::meta::type_name("ferro.ns_position"), x.exists, x.last_seq, x.last_epoch, x.epoch, x.entries,
           x.partial, x.lineage_from);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, insert_request& x) {
  return f(caf::meta::type_name("ferro.insert_request"), x.ns, x.embedding, x.response, x.query_text, x.uuid,
           wire_optional<std::int64_t>{x.ttl_seconds}, x.local);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, insert_reply& x) {
  return f(caf::meta::type_name("ferro.insert_reply"), x.id);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, query_request& x) {
  return f(caf::meta::type_name("ferro.query_request"), x.ns, x.embedding, x.threshold, x.query_text, x.local,
           x.strict_check, wire_optional<double>{x.max_error_rate});
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, query_reply& x) {
  return f(caf::meta::type_name("ferro.query_reply"), x.hit, x.id, x.response, x.similarity, x.exact_match,
           x.scope, x.matched_query_text, x.decided_by, wire_optional<double>{x.error_estimate},
           wire_optional<double>{x.error_bound});
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, feedback_request& x) {
  return f(caf::meta::type_name("ferro.feedback_request"), x.ns, x.id, x.similarity, x.query_text, x.correct,
           x.local);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, feedback_reply&) {
  return f(caf::meta::type_name("ferro.feedback_reply"));
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, delete_request& x) {
  return f(caf::meta::type_name("ferro.delete_request"), x.uuid, x.local);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, delete_reply& x) {
  return f(caf::meta::type_name("ferro.delete_reply"), x.deleted);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, invalidate_request& x) {
  return f(caf::meta::type_name("ferro.invalidate_request"), x.ns, x.embedding, x.threshold, x.local);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, invalidate_reply& x) {
  return f(caf::meta::type_name("ferro.invalidate_reply"), x.uuids);
}

/// Registers every wire type with the names all nodes use. Every actor
/// system config calls it (production, tests, the simulator): CAF 0.17
/// delivers an unregistered type to a remote node as an empty message,
/// without any error.
void register_wire_types(caf::actor_system_config& cfg);

/// Sends a sample of every wire type through CAF's binary serialiser as a
/// message and back, and checks that it arrives whole: catches a type that
/// was not registered, a field an inspect() forgot, or two nodes that would
/// disagree. Run at start-up; the error names the type.
status wire_self_test(caf::actor_system& sys);

} // namespace ferro
