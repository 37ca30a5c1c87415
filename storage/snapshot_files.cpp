#include "storage/snapshot_files.hpp"

#include <bit>
#include <cstring>
#include <fcntl.h>

#include "common/write_back.hpp"
#include "storage/crc32c.hpp"
#include "storage/file_io.hpp"
#include "storage/mapped_file.hpp"
#include "storage/msgpack_util.hpp"

namespace ferro::storage {

namespace {

// Header: magic(8) version(4) reserved(4) payload_len(8) payload_crc(4)
// header_crc(4), integers big-endian; header_crc covers the first 28 bytes.
constexpr char magic[8] = {'F', 'E', 'R', 'R', 'O', 'S', 'N', 'P'};
constexpr std::uint32_t entries_format_v1 = 1;
constexpr std::size_t header_bytes = 32;
constexpr std::size_t flush_bytes = 1 << 20;

void put_be(char* out, std::uint64_t v, int n) {
  for (int i = n - 1; i >= 0; --i) {
    out[i] = static_cast<char>(v & 0xffu);
    v >>= 8;
  }
}

std::uint64_t get_be(const char* in, int n) {
  std::uint64_t v = 0;
  for (int i = 0; i < n; ++i)
    v = (v << 8) | static_cast<unsigned char>(in[i]);
  return v;
}

std::string make_header(std::uint64_t payload_len, std::uint32_t payload_crc) {
  std::string h(header_bytes, '\0');
  std::memcpy(h.data(), magic, 8);
  put_be(h.data() + 8, entries_format_v1, 4);
  put_be(h.data() + 16, payload_len, 8);
  put_be(h.data() + 24, payload_crc, 4);
  put_be(h.data() + 28, crc32c(h.data(), 28), 4);
  return h;
}

// The file holds little-endian floats and the refs point at them; a
// big-endian host gets byte-swapped copies, owned with the file's bytes.
std::shared_ptr<const void> host_order_embeddings(std::vector<entry_ref>& refs,
                                                  std::shared_ptr<const void> file) {
  struct owned {
    std::shared_ptr<const void> file;
    std::vector<std::uint32_t> words;
  };
  auto o = std::make_shared<owned>();
  o->file = std::move(file);
  std::size_t total = 0;
  for (const auto& e : refs)
    total += e.embedding_values;
  o->words.resize(total);
  std::size_t at = 0;
  for (auto& e : refs) {
    std::memcpy(o->words.data() + at, e.embedding, std::size_t{e.embedding_values} * 4);
    for (std::size_t j = 0; j < e.embedding_values; ++j)
      o->words[at + j] = __builtin_bswap32(o->words[at + j]);
    e.embedding = o->words.data() + at;
    at += e.embedding_values;
  }
  return o;
}

error corrupt(const std::filesystem::path& file, const std::string& why) {
  return error{errc::internal, "snapshot entries file " + file.string() + ": " + why};
}

} // namespace

result<entries_file_info> write_entries_file(const std::filesystem::path& file, const namespace_key& ns,
                                             std::uint64_t dimension, std::uint64_t covered_ns_seq,
                                             const std::vector<labelled_entry>& entries,
                                             const embedding_source& embedding_of) {
  auto fd = open_file(file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (!fd)
    return fd.err();
  // Placeholder header; the real one is written once the payload is known.
  if (auto st = write_all(fd->get(), std::string(header_bytes, '\0'), file); !st)
    return st.err();
  msgpack::sbuffer buf(flush_bytes + (64 << 10));
  mp::packer pk(&buf);
  std::uint64_t payload_len = 0;
  std::uint32_t payload_crc = 0;
  write_back back(header_bytes);
  auto flush = [&]() -> status {
    payload_crc = crc32c_extend(payload_crc, buf.data(), buf.size());
    payload_len += buf.size();
    auto st = write_all(fd->get(), {buf.data(), buf.size()}, file);
    buf.clear();
    if (st)
      back.written_up_to(fd->get(), header_bytes + payload_len);
    return st;
  };
  // Payload: [encoded key, dimension, covered_ns_seq, count], then `count`
  // objects [label, entry].
  pk.pack_array(4);
  mp::pack_str(pk, encode_key(ns));
  pk.pack_uint64(dimension);
  pk.pack_uint64(covered_ns_seq);
  pk.pack_uint64(entries.size());
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const auto& le = entries[i];
    pk.pack_array(2);
    pk.pack_uint64(le.label);
    if (embedding_of)
      mp::pack_entry(pk, le.entry, embedding_of(i));
    else
      mp::pack_entry(pk, le.entry);
    if (buf.size() >= flush_bytes) {
      if (auto st = flush(); !st)
        return st.err();
    }
  }
  if (auto st = flush(); !st)
    return st.err();
  if (auto st = pwrite_all(fd->get(), make_header(payload_len, payload_crc), 0, file); !st)
    return st.err();
  if (auto st = fsync_fd(fd->get(), file); !st)
    return st.err();
  return entries_file_info{header_bytes + payload_len, payload_crc};
}

result<entries_file_contents> read_entries_file(const std::filesystem::path& file) {
  auto mapped = mapped_file::open(file);
  if (!mapped)
    return mapped.err();
  auto owner = std::make_shared<const mapped_file>(std::move(mapped.value()));
  return parse_entries_file(file, owner->bytes(), owner);
}

result<entries_file_contents> parse_entries_file(const std::filesystem::path& file, std::string_view b,
                                                 std::shared_ptr<const void> owner) {
  if (b.size() < header_bytes)
    return corrupt(file, "shorter than its header (" + std::to_string(b.size()) + " bytes)");
  if (std::memcmp(b.data(), magic, 8) != 0)
    return corrupt(file, "bad magic");
  if (get_be(b.data() + 28, 4) != crc32c(b.data(), 28))
    return corrupt(file, "header checksum mismatch");
  if (get_be(b.data() + 8, 4) != entries_format_v1)
    return corrupt(file, "unknown format version " + std::to_string(get_be(b.data() + 8, 4)));
  auto payload_len = get_be(b.data() + 16, 8);
  auto payload_crc = static_cast<std::uint32_t>(get_be(b.data() + 24, 4));
  if (payload_len != b.size() - header_bytes)
    return corrupt(file, "length " + std::to_string(b.size() - header_bytes) +
                             " does not match the header's " + std::to_string(payload_len) + " (truncated?)");
  // The whole payload is checked before any entry is trusted: the entries
  // below point into these bytes instead of copying them.
  const char* p = b.data() + header_bytes;
  if (crc32c(p, payload_len) != payload_crc)
    return corrupt(file, "payload checksum mismatch");

  entries_file_contents out;
  out.info = {b.size(), payload_crc};
  std::size_t off = 0;
  msgpack::object_handle oh;
  std::string encoded;
  std::uint64_t count = 0;
  auto head = mp::unpack_one(p, payload_len, off, oh) ? mp::array_of(oh.get(), 4) : nullptr;
  if (head == nullptr || !mp::read_str(head[0], encoded) || !mp::read_u64(head[1], out.dimension) ||
      !mp::read_u64(head[2], out.covered_ns_seq) || !mp::read_u64(head[3], count))
    return corrupt(file, "malformed payload header");
  auto key = decode_key(encoded);
  if (!key)
    return corrupt(file, "malformed namespace key");
  out.ns = std::move(*key);
  // Each entry takes at least a few bytes: a huge count is damage, not a
  // reason to reserve gigabytes.
  if (count > payload_len)
    return corrupt(file, "entry count larger than the file");
  std::vector<entry_ref> refs;
  refs.reserve(count);
  msgpack::zone zone;
  msgpack::object obj;
  for (std::uint64_t i = 0; i < count; ++i) {
    entry_ref e;
    zone.clear();
    auto a = mp::unpack_one(p, payload_len, off, zone, obj) ? mp::array_of(obj, 2) : nullptr;
    if (a == nullptr || !mp::read_u64(a[0], e.label) || !mp::read_entry_ref(a[1], e))
      return corrupt(file, "malformed entry #" + std::to_string(i));
    if (e.embedding_values != out.dimension)
      return corrupt(file, "entry #" + std::to_string(i) + " has dimension " +
                               std::to_string(e.embedding_values) + ", expected " +
                               std::to_string(out.dimension));
    refs.push_back(e);
  }
  if (off != payload_len)
    return corrupt(file, "trailing bytes after the last entry");
  if constexpr (std::endian::native != std::endian::little)
    owner = host_order_embeddings(refs, std::move(owner));
  out.entries = snapshot_entries(std::move(owner), std::move(refs));
  return out;
}

} // namespace ferro::storage
