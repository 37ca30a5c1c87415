#include "storage/record_codec.hpp"

#include "storage/crc32c.hpp"
#include "storage/msgpack_util.hpp"

namespace ferro::storage::codec {

namespace {

void put_be32(char* out, std::uint32_t v) {
  for (int i = 3; i >= 0; --i) {
    out[i] = static_cast<char>(v & 0xffu);
    v >>= 8;
  }
}

std::uint32_t get_be32(const char* in) {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i)
    v = (v << 8) | static_cast<unsigned char>(in[i]);
  return v;
}

void put_be64(char* out, std::uint64_t v) {
  for (int i = 7; i >= 0; --i) {
    out[i] = static_cast<char>(v & 0xffu);
    v >>= 8;
  }
}

std::uint64_t get_be64(const char* in) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i)
    v = (v << 8) | static_cast<unsigned char>(in[i]);
  return v;
}

std::string to_string(const msgpack::sbuffer& buf) {
  return {buf.data(), buf.size()};
}

error bad(std::string what) {
  return error{errc::internal, std::move(what)};
}

// One top-level object that must fill the payload exactly.
bool parse_exact(std::string_view payload, msgpack::object_handle& oh) {
  std::size_t off = 0;
  return mp::unpack_one(payload.data(), payload.size(), off, oh) && off == payload.size();
}

} // namespace

std::string seal(std::string_view key, std::string_view payload) {
  std::string out;
  out.resize(seal_header_bytes + payload.size());
  out[0] = static_cast<char>(value_format_v1);
  auto crc = crc32c_extend(crc32c(key), payload.data(), payload.size());
  put_be32(out.data() + 1, crc);
  std::memcpy(out.data() + seal_header_bytes, payload.data(), payload.size());
  return out;
}

result<std::string_view> unseal(std::string_view key, std::string_view value) {
  if (value.size() < seal_header_bytes)
    return bad("value shorter than its header (" + std::to_string(value.size()) + " bytes)");
  if (static_cast<std::uint8_t>(value[0]) != value_format_v1)
    return bad("unknown value format version " +
               std::to_string(static_cast<unsigned>(static_cast<std::uint8_t>(value[0]))));
  auto payload = value.substr(seal_header_bytes);
  auto want = get_be32(value.data() + 1);
  auto got = crc32c_extend(crc32c(key), payload.data(), payload.size());
  if (want != got)
    return bad("checksum mismatch");
  return payload;
}

std::string u64_key(std::uint64_t v) {
  std::string out(8, '\0');
  put_be64(out.data(), v);
  return out;
}

bool parse_u64_key(std::string_view key, std::uint64_t& out) {
  if (key.size() != 8)
    return false;
  out = get_be64(key.data());
  return true;
}

std::string wal_key(std::uint64_t ns_id, std::uint64_t ns_seq) {
  std::string out(16, '\0');
  put_be64(out.data(), ns_id);
  put_be64(out.data() + 8, ns_seq);
  return out;
}

bool parse_wal_key(std::string_view key, std::uint64_t& ns_id, std::uint64_t& ns_seq) {
  if (key.size() != 16)
    return false;
  ns_id = get_be64(key.data());
  ns_seq = get_be64(key.data() + 8);
  return true;
}

std::string encode_u64(std::uint64_t v) {
  msgpack::sbuffer buf;
  mp::packer pk(&buf);
  pk.pack_uint64(v);
  return to_string(buf);
}

result<std::uint64_t> decode_u64(std::string_view payload) {
  msgpack::object_handle oh;
  std::uint64_t v = 0;
  if (!parse_exact(payload, oh) || !mp::read_u64(oh.get(), v))
    return bad("malformed integer value");
  return v;
}

// WAL payload, insert: [1, entry(, epoch)]; remove: [2, uuid, reason(, epoch)];
// feedback: [3, uuid, similarity (float64), correct, class, query_text(, epoch)];
// feedback_table: [4, table (str)(, epoch)]; void: [0]. The epoch is written only when it is not 0, so a
// single node's records are byte for byte what earlier versions wrote, and their records read back with epoch
// 0.
std::string encode_wal_payload(const log_record& rec) {
  if (rec.op == log_op::void_)
    return encode_void_payload();
  msgpack::sbuffer buf(256 + rec.entry.embedding.size() * sizeof(float) + rec.entry.response.size() +
                       rec.entry.query_text.size());
  mp::packer pk(&buf);
  const std::uint32_t with_epoch = rec.epoch != 0 ? 1 : 0;
  if (rec.op == log_op::insert) {
    pk.pack_array(2 + with_epoch);
    pk.pack_uint8(static_cast<std::uint8_t>(log_op::insert));
    mp::pack_entry(pk, rec.entry);
  } else if (rec.op == log_op::feedback) {
    pk.pack_array(6 + with_epoch);
    pk.pack_uint8(static_cast<std::uint8_t>(log_op::feedback));
    mp::pack_str(pk, rec.uuid);
    pk.pack_double(rec.feedback.similarity);
    if (rec.feedback.correct)
      pk.pack_true();
    else
      pk.pack_false();
    pk.pack_uint8(rec.feedback.feature_class);
    mp::pack_str(pk, rec.feedback.query_text);
  } else if (rec.op == log_op::feedback_table) {
    pk.pack_array(2 + with_epoch);
    pk.pack_uint8(static_cast<std::uint8_t>(log_op::feedback_table));
    mp::pack_str(pk, rec.feedback_table);
  } else {
    pk.pack_array(3 + with_epoch);
    pk.pack_uint8(static_cast<std::uint8_t>(log_op::remove));
    mp::pack_str(pk, rec.uuid);
    pk.pack_uint8(static_cast<std::uint8_t>(rec.reason));
  }
  if (with_epoch)
    pk.pack_uint64(rec.epoch);
  return to_string(buf);
}

// Void: [0].
std::string encode_void_payload() {
  msgpack::sbuffer buf;
  mp::packer pk(&buf);
  pk.pack_array(1);
  pk.pack_uint8(static_cast<std::uint8_t>(log_op::void_));
  return to_string(buf);
}

namespace {

// The optional trailing epoch at position `at` of a record's array.
bool read_epoch(const msgpack::object& array, std::uint32_t at, std::uint64_t& epoch) {
  epoch = 0;
  if (array.via.array.size <= at)
    return true;
  return array.via.array.size == at + 1 && mp::read_u64(array.via.array.ptr[at], epoch);
}

} // namespace

status decode_wal_payload(std::string_view payload, log_record& out, bool& is_void) {
  is_void = false;
  msgpack::object_handle oh;
  if (!parse_exact(payload, oh))
    return bad("WAL payload is not one msgpack object");
  auto a = mp::array_of(oh.get(), 1);
  std::uint64_t op = 0;
  if (a == nullptr || !mp::read_u64(a[0], op))
    return bad("WAL payload has no op");
  if (op == static_cast<std::uint64_t>(log_op::void_)) {
    out.op = log_op::void_;
    is_void = true;
    return {};
  }
  if (oh.get().via.array.size < 2)
    return bad("WAL payload has no body");
  if (op == static_cast<std::uint64_t>(log_op::insert)) {
    out.op = log_op::insert;
    if (!mp::read_entry(a[1], out.entry) || !read_epoch(oh.get(), 2, out.epoch))
      return bad("malformed insert record");
    return {};
  }
  if (op == static_cast<std::uint64_t>(log_op::remove)) {
    out.op = log_op::remove;
    std::uint64_t reason = 0;
    if (oh.get().via.array.size < 3 || !mp::read_str(a[1], out.uuid) || !mp::read_u64(a[2], reason) ||
        reason < static_cast<std::uint64_t>(removal_reason::deleted) ||
        reason > static_cast<std::uint64_t>(removal_reason::evicted) || !read_epoch(oh.get(), 3, out.epoch))
      return bad("malformed remove record");
    out.reason = static_cast<removal_reason>(reason);
    return {};
  }
  if (op == static_cast<std::uint64_t>(log_op::feedback)) {
    out.op = log_op::feedback;
    std::uint64_t cls = 0;
    if (oh.get().via.array.size < 6)
      return bad("malformed feedback record");
    const auto& sim = a[2];
    if (!mp::read_str(a[1], out.uuid) ||
        (sim.type != msgpack::type::FLOAT64 && sim.type != msgpack::type::FLOAT32) ||
        !mp::read_bool(a[3], out.feedback.correct) || !mp::read_u64(a[4], cls) || cls > 255 ||
        !mp::read_str(a[5], out.feedback.query_text) || !read_epoch(oh.get(), 6, out.epoch))
      return bad("malformed feedback record");
    out.feedback.similarity = sim.via.f64;
    out.feedback.feature_class = static_cast<std::uint8_t>(cls);
    if (!(out.feedback.similarity >= -1.0 && out.feedback.similarity <= 1.0))
      return bad("feedback record with similarity out of range");
    return {};
  }
  if (op == static_cast<std::uint64_t>(log_op::feedback_table)) {
    out.op = log_op::feedback_table;
    if (!mp::read_str(a[1], out.feedback_table) || !read_epoch(oh.get(), 2, out.epoch))
      return bad("malformed feedback table record");
    return {};
  }
  return bad("unknown WAL op " + std::to_string(op));
}

// [encoded key, dimension, base_ns_seq, last_ns_seq]
std::string encode_namespace(const namespace_meta& m) {
  msgpack::sbuffer buf;
  mp::packer pk(&buf);
  pk.pack_array(4);
  mp::pack_str(pk, encode_key(m.key));
  pk.pack_uint64(m.dimension);
  pk.pack_uint64(m.base_ns_seq);
  pk.pack_uint64(m.last_ns_seq);
  return to_string(buf);
}

result<namespace_meta> decode_namespace(std::string_view payload) {
  msgpack::object_handle oh;
  namespace_meta m;
  std::string encoded;
  if (!parse_exact(payload, oh))
    return bad("namespace record is not one msgpack object");
  auto a = mp::array_of(oh.get(), 4);
  if (a == nullptr || !mp::read_str(a[0], encoded) || !mp::read_u64(a[1], m.dimension) ||
      !mp::read_u64(a[2], m.base_ns_seq) || !mp::read_u64(a[3], m.last_ns_seq))
    return bad("malformed namespace record");
  auto key = decode_key(encoded);
  if (!key)
    return bad("malformed namespace key in namespace record");
  m.key = std::move(*key);
  return m;
}

// [dir, generation, covered, dimension, count, entries_bytes, entries_crc,
//  has_graph, graph_bytes, graph_crc, (quality_state, (epoch, whole,
//  lineage_from))]: the 11th element only when the namespace has feedback
// (format note F2) or a lineage, the 12th to 14th only with a lineage other
// than (0, whole, 0) (F4).
std::string encode_manifest(const snapshot_manifest& m) {
  msgpack::sbuffer buf;
  mp::packer pk(&buf);
  const bool lineage = m.epoch != 0 || !m.whole || m.lineage_from != 0;
  pk.pack_array(lineage ? 14 : m.quality_state.empty() ? 10 : 11);
  mp::pack_str(pk, m.dir_name);
  pk.pack_uint64(m.generation);
  pk.pack_uint64(m.covered_ns_seq);
  pk.pack_uint64(m.dimension);
  pk.pack_uint64(m.entry_count);
  pk.pack_uint64(m.entries_bytes);
  pk.pack_uint32(m.entries_crc);
  if (m.has_graph)
    pk.pack_true();
  else
    pk.pack_false();
  pk.pack_uint64(m.graph_bytes);
  pk.pack_uint32(m.graph_crc);
  if (lineage || !m.quality_state.empty())
    mp::pack_str(pk, m.quality_state);
  if (lineage) {
    pk.pack_uint64(m.epoch);
    if (m.whole)
      pk.pack_true();
    else
      pk.pack_false();
    pk.pack_uint64(m.lineage_from);
  }
  return to_string(buf);
}

result<snapshot_manifest> decode_manifest(std::string_view payload) {
  msgpack::object_handle oh;
  snapshot_manifest m;
  std::uint64_t entries_crc = 0;
  std::uint64_t graph_crc = 0;
  if (!parse_exact(payload, oh))
    return bad("snapshot manifest is not one msgpack object");
  auto a = mp::array_of(oh.get(), 10);
  if (a == nullptr || !mp::read_str(a[0], m.dir_name) || !mp::read_u64(a[1], m.generation) ||
      !mp::read_u64(a[2], m.covered_ns_seq) || !mp::read_u64(a[3], m.dimension) ||
      !mp::read_u64(a[4], m.entry_count) || !mp::read_u64(a[5], m.entries_bytes) ||
      !mp::read_u64(a[6], entries_crc) || !mp::read_bool(a[7], m.has_graph) ||
      !mp::read_u64(a[8], m.graph_bytes) || !mp::read_u64(a[9], graph_crc) || entries_crc > UINT32_MAX ||
      graph_crc > UINT32_MAX)
    return bad("malformed snapshot manifest");
  if (oh.get().via.array.size >= 11 && !mp::read_str(a[10], m.quality_state))
    return bad("malformed quality state in snapshot manifest");
  if (oh.get().via.array.size >= 14 && (!mp::read_u64(a[11], m.epoch) || !mp::read_bool(a[12], m.whole) ||
                                        !mp::read_u64(a[13], m.lineage_from)))
    return bad("malformed lineage in snapshot manifest");
  m.entries_crc = static_cast<std::uint32_t>(entries_crc);
  m.graph_crc = static_cast<std::uint32_t>(graph_crc);
  return m;
}

} // namespace ferro::storage::codec
