#include "index/graph_file.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <sys/stat.h>
#include <unistd.h>

namespace ferro::graph_file {

namespace {

template <class T>
void put(unsigned char*& p, const T& v) {
  std::memcpy(p, &v, sizeof(T));
  p += sizeof(T);
}

template <class T>
void get(const unsigned char*& p, T& v) {
  std::memcpy(&v, p, sizeof(T));
  p += sizeof(T);
}

error corrupt(std::string what) {
  return error{errc::internal, "graph file corrupt: " + std::move(what)};
}

std::uint64_t rotl(std::uint64_t x, int r) {
  return (x << r) | (x >> (64 - r));
}

} // namespace

void encode_header(const header& h, unsigned char (&out)[header_size]) {
  unsigned char* p = out;
  put(p, h.offset_level0);
  put(p, h.max_elements);
  put(p, h.element_count);
  put(p, h.size_data_per_element);
  put(p, h.label_offset);
  put(p, h.offset_data);
  put(p, h.max_level);
  put(p, h.enterpoint);
  put(p, h.max_m);
  put(p, h.max_m0);
  put(p, h.m);
  put(p, h.mult);
  put(p, h.ef_construction);
}

header decode_header(const unsigned char (&in)[header_size]) {
  header h;
  const unsigned char* p = in;
  get(p, h.offset_level0);
  get(p, h.max_elements);
  get(p, h.element_count);
  get(p, h.size_data_per_element);
  get(p, h.label_offset);
  get(p, h.offset_data);
  get(p, h.max_level);
  get(p, h.enterpoint);
  get(p, h.max_m);
  get(p, h.max_m0);
  get(p, h.m);
  get(p, h.mult);
  get(p, h.ef_construction);
  return h;
}

void encode_prefix(vector_type t, unsigned char (&out)[prefix_size]) {
  unsigned char* p = out;
  put(p, std::uint32_t{2});
  put(p, static_cast<std::uint32_t>(t));
}

result<vector_type> decode_prefix(const unsigned char (&in)[prefix_size]) {
  const unsigned char* p = in;
  std::uint32_t version = 0, type = 0;
  get(p, version);
  get(p, type);
  if (version != 2)
    return corrupt("format version " + std::to_string(version) + " in a version-2 file");
  if (type > static_cast<std::uint32_t>(vector_type::int8))
    return corrupt("unknown vector type " + std::to_string(type));
  return static_cast<vector_type>(type);
}

status check_header(const header& h, const expected_layout& layout, std::uint64_t payload_bytes) {
  if (h.m != layout.m || h.max_m != layout.m || h.max_m0 != 2 * layout.m)
    return corrupt("M is " + std::to_string(h.m) + ", expected " + std::to_string(layout.m));
  if (h.offset_level0 != 0 || h.offset_data != layout.links_level0_bytes() ||
      h.label_offset != layout.links_level0_bytes() + layout.data_bytes() ||
      h.size_data_per_element != layout.size_data_per_element())
    return corrupt("element layout does not match dimension " + std::to_string(layout.dimension));
  // hnswlib's internal ids are 32-bit.
  if (h.element_count >= 0xffffffffu)
    return corrupt("element count out of range");
  std::uint64_t body = payload_bytes - std::min<std::uint64_t>(payload_bytes, header_size);
  // Every element needs its level-0 record and a 4-byte upper-level count.
  if (h.element_count > body / (h.size_data_per_element + 4))
    return corrupt("element count exceeds the file size");
  if (h.element_count == 0) {
    if (h.max_level != -1)
      return corrupt("empty graph with a top level");
  } else if (h.max_level < 0 || h.max_level > 255 || h.enterpoint >= h.element_count) {
    return corrupt("entry point or top level out of range");
  }
  return {};
}

void checksum::mix(std::uint64_t word) {
  // xor, rotate and multiply by an odd constant are each bijective in the
  // state, so two inputs differing in one word never collide.
  state_ = rotl(state_ ^ word, 27) * 0x9e3779b97f4a7c15ull;
}

void checksum::update(const void* data, std::size_t n) {
  auto* p = static_cast<const unsigned char*>(data);
  length_ += n;
  if (pending_size_ > 0) {
    std::size_t take = std::min(n, 8 - pending_size_);
    std::memcpy(pending_ + pending_size_, p, take);
    pending_size_ += take;
    p += take;
    n -= take;
    if (pending_size_ < 8)
      return;
    std::uint64_t w;
    std::memcpy(&w, pending_, 8);
    mix(w);
    pending_size_ = 0;
  }
  for (; n >= 8; n -= 8, p += 8) {
    std::uint64_t w;
    std::memcpy(&w, p, 8);
    mix(w);
  }
  std::memcpy(pending_, p, n);
  pending_size_ = n;
}

std::uint64_t checksum::digest() const {
  checksum c = *this;
  if (c.pending_size_ > 0) {
    std::uint64_t w = 0;
    std::memcpy(&w, c.pending_, c.pending_size_);
    c.mix(w);
  }
  c.mix(c.length_);
  std::uint64_t x = c.state_;
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  return x;
}

writer::writer(const std::filesystem::path& file, std::function<void(const void*, std::size_t)> observer)
    : observer_(std::move(observer)), file_(file) {
  f_ = std::fopen(file.c_str(), "wb");
  failed_ = f_ == nullptr;
}

writer::~writer() {
  if (f_)
    std::fclose(f_);
}

void writer::emit(const void* data, std::size_t n) {
  failed_ = std::fwrite(data, 1, n, f_) != n;
  if (failed_)
    return;
  written_ += n;
  if (observer_)
    observer_(data, n);
  // The stdio buffer goes to the kernel first, so that a whole slice can
  // be written back (common/write_back.hpp says why).
  if (write_back_.due(written_)) {
    failed_ = std::fflush(f_) != 0;
    if (!failed_)
      write_back_.written_up_to(::fileno(f_), written_);
  }
}

void writer::bytes(const void* data, std::size_t n) {
  if (failed_ || n == 0)
    return;
  sum_.update(data, n);
  emit(data, n);
}

status writer::finish(std::uint64_t trailer_magic) {
  if (!failed_) {
    std::uint64_t trailer[2] = {sum_.digest(), trailer_magic};
    emit(trailer, sizeof(trailer));
    failed_ = failed_ || std::fflush(f_) != 0 || ::fsync(::fileno(f_)) != 0;
  }
  int saved_errno = errno;
  if (f_ && std::fclose(f_) != 0)
    failed_ = true;
  f_ = nullptr;
  if (failed_)
    return error{errc::internal,
                 "cannot write graph file " + file_.string() + ": " + std::strerror(saved_errno)};
  return {};
}

reader::~reader() {
  if (f_)
    std::fclose(f_);
}

status reader::open(const std::filesystem::path& file, observer watch) {
  watch_ = std::move(watch);
  f_ = std::fopen(file.c_str(), "rb");
  if (!f_)
    return error{errc::not_found, "cannot open graph file " + file.string() + ": " + std::strerror(errno)};
  // Large sequential reads for the link lists (many small reads; the
  // level-0 block is one). Only allowed before the first read.
  std::setvbuf(f_, nullptr, _IOFBF, std::size_t{1} << 20);
  struct stat st {};
  if (::fstat(::fileno(f_), &st) != 0 || !S_ISREG(st.st_mode))
    return error{errc::internal, "graph file is not a regular file: " + file.string()};
  auto size = static_cast<std::uint64_t>(st.st_size);
  if (size < header_size + trailer_size)
    return corrupt("file of " + std::to_string(size) + " bytes is too short");
  auto& trailer = trailer_;
  if (std::fseek(f_, static_cast<long>(size - trailer_size), SEEK_SET) != 0 ||
      std::fread(trailer, 1, sizeof(trailer), f_) != sizeof(trailer) || std::fseek(f_, 0, SEEK_SET) != 0)
    return error{errc::internal, "cannot read graph file " + file.string()};
  if (trailer[1] != magic && trailer[1] != magic_v2)
    return corrupt("no trailer (truncated, or not written by FerroCache)");
  version_ = trailer[1] == magic ? 1 : 2;
  expected_digest_ = trailer[0];
  payload_ = size - trailer_size;
  return {};
}

bool reader::bytes(void* out, std::size_t n) {
  if (!f_ || n > remaining())
    return false;
  if (n > 0 && std::fread(out, 1, n, f_) != n)
    return false;
  consumed_ += n;
  sum_.update(out, n);
  if (watch_ && n > 0) {
    watch_(out, n);
    if (remaining() == 0)
      watch_(trailer_, sizeof(trailer_));
  }
  return true;
}

bool reader::verify() const {
  return remaining() == 0 && sum_.digest() == expected_digest_;
}

} // namespace ferro::graph_file
