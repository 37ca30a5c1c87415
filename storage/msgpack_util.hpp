#pragma once

// Internal to storage/: include only from .cpp files (msgpack.hpp is heavy).

#include <bit>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <span>
#include <vector>

#include <msgpack.hpp>

#include "common/entry.hpp"
#include "common/snapshot_entries.hpp"

namespace ferro::storage::mp {

using packer = msgpack::packer<msgpack::sbuffer>;

inline void pack_str(packer& pk, std::string_view s) {
  pk.pack_str(static_cast<std::uint32_t>(s.size()));
  pk.pack_str_body(s.data(), static_cast<std::uint32_t>(s.size()));
}

/// Floats as raw little-endian IEEE-754 binary32 in a bin: 4 bytes a value
/// instead of msgpack's 5, and a memcpy to read back.
inline void pack_floats(packer& pk, std::span<const float> v) {
  auto bytes = static_cast<std::uint32_t>(v.size() * sizeof(float));
  pk.pack_bin(bytes);
  if constexpr (std::endian::native == std::endian::little) {
    pk.pack_bin_body(reinterpret_cast<const char*>(v.data()), bytes);
  } else {
    std::vector<std::uint32_t> words(v.size());
    std::memcpy(words.data(), v.data(), bytes);
    for (auto& w : words)
      w = __builtin_bswap32(w);
    pk.pack_bin_body(reinterpret_cast<const char*>(words.data()), bytes);
  }
}

/// The 8-element entry array shared by WAL inserts and snapshots.
/// An entry whose embedding is held elsewhere (a snapshot image keeps
/// embeddings only in its graph copy).
inline void pack_entry(packer& pk, const cache_entry& e, std::span<const float> embedding) {
  pk.pack_array(8);
  pack_str(pk, e.uuid);
  pack_floats(pk, embedding);
  pack_str(pk, e.response);
  pack_str(pk, e.query_text);
  pk.pack_int64(e.created_at_ms);
  pk.pack_int64(e.expires_at_ms);
  pk.pack_uint64(e.access_count);
  pk.pack_int64(e.last_accessed_ms);
}

inline void pack_entry(packer& pk, const cache_entry& e) {
  pack_entry(pk, e, e.embedding);
}

// Readers: false on a type mismatch. Arrays may carry extra trailing
// elements (written by a newer minor version); readers ignore them.

inline bool read_u64(const msgpack::object& o, std::uint64_t& out) {
  if (o.type != msgpack::type::POSITIVE_INTEGER)
    return false;
  out = o.via.u64;
  return true;
}

inline bool read_i64(const msgpack::object& o, std::int64_t& out) {
  if (o.type == msgpack::type::NEGATIVE_INTEGER) {
    out = o.via.i64;
    return true;
  }
  if (o.type == msgpack::type::POSITIVE_INTEGER && o.via.u64 <= INT64_MAX) {
    out = static_cast<std::int64_t>(o.via.u64);
    return true;
  }
  return false;
}

inline bool read_str(const msgpack::object& o, std::string& out) {
  if (o.type != msgpack::type::STR)
    return false;
  out.assign(o.via.str.ptr, o.via.str.size);
  return true;
}

inline bool read_bool(const msgpack::object& o, bool& out) {
  if (o.type != msgpack::type::BOOLEAN)
    return false;
  out = o.via.boolean;
  return true;
}

inline bool read_floats(const msgpack::object& o, std::vector<float>& out) {
  if (o.type != msgpack::type::BIN || o.via.bin.size % sizeof(float) != 0)
    return false;
  out.resize(o.via.bin.size / sizeof(float));
  std::memcpy(out.data(), o.via.bin.ptr, o.via.bin.size);
  if constexpr (std::endian::native != std::endian::little) {
    for (auto& f : out) {
      std::uint32_t w;
      std::memcpy(&w, &f, 4);
      w = __builtin_bswap32(w);
      std::memcpy(&f, &w, 4);
    }
  }
  return true;
}

/// The array if `o` is one with at least `n` elements, else nullptr.
inline const msgpack::object* array_of(const msgpack::object& o, std::uint32_t n) {
  if (o.type != msgpack::type::ARRAY || o.via.array.size < n)
    return nullptr;
  return o.via.array.ptr;
}

inline bool read_entry(const msgpack::object& o, cache_entry& e) {
  auto a = array_of(o, 8);
  return a != nullptr && read_str(a[0], e.uuid) && read_floats(a[1], e.embedding) &&
         read_str(a[2], e.response) && read_str(a[3], e.query_text) && read_i64(a[4], e.created_at_ms) &&
         read_i64(a[5], e.expires_at_ms) && read_u64(a[6], e.access_count) &&
         read_i64(a[7], e.last_accessed_ms);
}

/// read_entry without copies: the ref points into the bytes `o` was parsed
/// from (parse with reference_all). The embedding stays in the file's
/// little-endian order: on a big-endian host the caller converts it.
inline bool read_entry_ref(const msgpack::object& o, entry_ref& e) {
  auto a = array_of(o, 8);
  if (a == nullptr || a[0].type != msgpack::type::STR || a[1].type != msgpack::type::BIN ||
      a[1].via.bin.size % sizeof(float) != 0 || a[2].type != msgpack::type::STR ||
      a[3].type != msgpack::type::STR)
    return false;
  e.uuid = {a[0].via.str.ptr, a[0].via.str.size};
  e.embedding = a[1].via.bin.ptr;
  e.embedding_values = a[1].via.bin.size / sizeof(float);
  e.response = {a[2].via.str.ptr, a[2].via.str.size};
  e.query_text = {a[3].via.str.ptr, a[3].via.str.size};
  return read_i64(a[4], e.created_at_ms) && read_i64(a[5], e.expires_at_ms) &&
         read_u64(a[6], e.access_count) && read_i64(a[7], e.last_accessed_ms);
}

/// Strings and bins are copied out by the readers anyway: let the parsed
/// object point into the input instead of copying them into the zone first.
inline bool reference_all(msgpack::type::object_type, std::size_t, void*) {
  return true;
}

/// Our arrays are short and shallow; the limits stop a damaged length field
/// from asking for gigabytes before the parse fails.
inline const msgpack::unpack_limit& record_limit() {
  static const msgpack::unpack_limit limit(64, 64, std::size_t{1} << 28, std::size_t{1} << 28, 0, 8);
  return limit;
}

/// Parses exactly one object from [data+offset, data+size); advances offset.
/// Never throws; false on malformed or truncated input.
inline bool unpack_one(const char* data, std::size_t size, std::size_t& offset, msgpack::object_handle& out) {
  try {
    msgpack::unpack(out, data, size, offset, &reference_all, nullptr, record_limit());
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

/// unpack_one into a zone the caller reuses: parsing a snapshot's 1M
/// entries allocated and freed a fresh zone (an 8 KiB chunk) per entry.
/// The object lives until the zone is cleared or destroyed.
inline bool unpack_one(const char* data, std::size_t size, std::size_t& offset, msgpack::zone& zone,
                       msgpack::object& out) {
  try {
    out = msgpack::unpack(zone, data, size, offset, &reference_all, nullptr, record_limit());
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

} // namespace ferro::storage::mp
