#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <functional>

#include "common/status.hpp"
#include "common/write_back.hpp"
#include "index/vector_type.hpp"

/// The on-disk form of one namespace's HNSW graph: exactly the bytes hnswlib
/// 0.6.2's `saveIndex` writes, followed by a 16-byte trailer (a checksum of
/// everything before it, then a magic number). hnswlib's own loader trusts
/// every count and offset it reads; this module lets the index refuse a
/// truncated or altered file before anything is built from it.
///
/// Layout, version 1 (float32 vectors, magic "FRHNSWG1"): header (96 bytes,
/// native byte order) | level-0 block (element_count * size_data_per_element)
/// | per element: u32 byte count + the element's upper-level link lists |
/// trailer.
///
/// Version 2 (reduced vectors, magic "FRHNSWG2"): an 8-byte prefix (u32
/// format version = 2, u32 vector type: 1 float16, 2 int8) before the same
/// layout; the checksum covers the prefix. float32 graphs are still written
/// as version 1, byte for byte what they were before version 2 existed.
namespace ferro::graph_file {

/// hnswlib's header fields, in file order.
struct header {
  std::uint64_t offset_level0 = 0;
  std::uint64_t max_elements = 0;
  std::uint64_t element_count = 0;
  std::uint64_t size_data_per_element = 0;
  std::uint64_t label_offset = 0;
  std::uint64_t offset_data = 0;
  std::int32_t max_level = -1;
  std::uint32_t enterpoint = 0;
  std::uint64_t max_m = 0;
  std::uint64_t max_m0 = 0;
  std::uint64_t m = 0;
  double mult = 0;
  std::uint64_t ef_construction = 0;
};

constexpr std::size_t header_size = 96;
constexpr std::size_t trailer_size = 16;
constexpr std::uint64_t magic = 0x314757534e485246;    // "FRHNSWG1" in file order
constexpr std::uint64_t magic_v2 = 0x324757534e485246; // "FRHNSWG2"
constexpr std::size_t prefix_size = 8;                 // version 2 only

/// The trailer magic a graph of this vector type is written with.
constexpr std::uint64_t magic_for(vector_type t) {
  return t == vector_type::float32 ? magic : magic_v2;
}

/// The version-2 prefix for vector type t.
void encode_prefix(vector_type t, unsigned char (&out)[prefix_size]);
/// The vector type a version-2 prefix names; an error if it is not one.
result<vector_type> decode_prefix(const unsigned char (&in)[prefix_size]);

void encode_header(const header& h, unsigned char (&out)[header_size]);
header decode_header(const unsigned char (&in)[header_size]);

/// What the header of a graph with this dimension and M must say.
struct expected_layout {
  std::size_t dimension;
  std::size_t m;
  vector_type type = vector_type::float32;
  std::size_t links_level0_bytes() const { return m * 2 * 4 + 4; }
  std::size_t upper_links_bytes() const { return m * 4 + 4; } ///< per upper level
  std::size_t data_bytes() const { return stored_vector_bytes(type, dimension); }
  std::size_t size_data_per_element() const { return links_level0_bytes() + data_bytes() + 8; }
};

/// Checks a decoded header against the expected layout and the payload size
/// (file size without trailer); an error names the first mismatch.
status check_header(const header& h, const expected_layout& layout, std::uint64_t payload_bytes);

/// 64-bit checksum over a byte stream. Each 8-byte word passes through a
/// bijective mix, so a change confined to one word always changes the digest.
class checksum {
public:
  void update(const void* data, std::size_t n);
  std::uint64_t digest() const;

private:
  void mix(std::uint64_t word);
  std::uint64_t state_ = 0x243f6a8885a308d3;
  std::uint64_t length_ = 0;
  unsigned char pending_[8] = {};
  std::size_t pending_size_ = 0;
};

/// Writes a file through a checksum; `finish` appends the trailer, flushes,
/// fsyncs and closes. The first failure sticks and is reported by `finish`.
/// An optional observer sees every byte written (trailer included), so a
/// caller can digest the file without reading it back.
class writer {
public:
  explicit writer(const std::filesystem::path& file,
                  std::function<void(const void*, std::size_t)> observer = {});
  ~writer();
  writer(const writer&) = delete;
  writer& operator=(const writer&) = delete;

  void bytes(const void* data, std::size_t n);
  template <class T>
  void pod(const T& v) {
    bytes(&v, sizeof(T));
  }
  /// Ends the file with `trailer_magic` (magic_for the graph's vector type).
  status finish(std::uint64_t trailer_magic = magic);
  /// Bytes written so far (the whole file after a successful `finish`).
  std::uint64_t written() const { return written_; }

private:
  void emit(const void* data, std::size_t n);

  std::FILE* f_ = nullptr;
  write_back write_back_;
  checksum sum_;
  std::function<void(const void*, std::size_t)> observer_;
  std::uint64_t written_ = 0;
  bool failed_ = false;
  std::filesystem::path file_;
};

/// Reads a file written by `writer`: checks the trailer's magic up front and
/// the checksum at `verify`; never reads past the payload.
class reader {
public:
  /// Sees every byte of the file once, in file order: the payload as it is
  /// read, then the trailer once the payload is consumed. Recovery digests
  /// the file against its snapshot manifest in the same pass as the load,
  /// instead of reading 1.7 GB (1M x 384) twice.
  using observer = std::function<void(const void*, std::size_t)>;

  reader() = default;
  ~reader();
  reader(const reader&) = delete;
  reader& operator=(const reader&) = delete;

  status open(const std::filesystem::path& file, observer watch = {});
  /// 1 or 2, from the trailer's magic (known after a successful open).
  int version() const { return version_; }
  std::uint64_t payload_size() const { return payload_; }
  std::uint64_t remaining() const { return payload_ - consumed_; }
  /// Exactly n bytes, or false (and nothing usable) if the payload is shorter.
  bool bytes(void* out, std::size_t n);
  /// True iff the whole payload was read and its checksum matches.
  bool verify() const;

private:
  std::FILE* f_ = nullptr;
  std::uint64_t payload_ = 0;
  std::uint64_t consumed_ = 0;
  std::uint64_t expected_digest_ = 0;
  std::uint64_t trailer_[2] = {};
  int version_ = 1;
  checksum sum_;
  observer watch_;
};

} // namespace ferro::graph_file
