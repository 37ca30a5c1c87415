#include "cluster/transport/wire.hpp"

#include <algorithm>
#include <cstring>

namespace ferro::transport::wire {

namespace {

constexpr unsigned char kind_hello = 1;
constexpr unsigned char kind_refusal = 2;
constexpr std::size_t reserve_ahead_bytes = std::size_t{1} << 20;

void put_u16(std::string& s, std::uint16_t v) {
  s.push_back(static_cast<char>(v >> 8));
  s.push_back(static_cast<char>(v & 0xff));
}

void put_u32(std::string& s, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8)
    s.push_back(static_cast<char>((v >> shift) & 0xff));
}

void put_u64(std::string& s, std::uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8)
    s.push_back(static_cast<char>((v >> shift) & 0xff));
}

void put_bytes(std::string& s, std::string_view b, std::size_t limit) {
  b = b.substr(0, limit);
  put_u16(s, static_cast<std::uint16_t>(b.size()));
  s.append(b);
}

/// Reads big-endian fields off the front of a view; any short read sets ok=false.
struct reader {
  std::string_view in;
  bool ok = true;

  std::uint64_t uint(std::size_t n) {
    if (in.size() < n) {
      ok = false;
      return 0;
    }
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < n; ++i)
      v = (v << 8) | static_cast<unsigned char>(in[i]);
    in.remove_prefix(n);
    return v;
  }

  std::string bytes(std::size_t limit) {
    auto n = static_cast<std::size_t>(uint(2));
    if (!ok || n > limit || in.size() < n) {
      ok = false;
      return {};
    }
    std::string s(in.substr(0, n));
    in.remove_prefix(n);
    return s;
  }
};

std::string start_payload(unsigned char kind) {
  std::string s(magic.begin(), magic.end());
  s.push_back(static_cast<char>(kind));
  return s;
}

} // namespace

std::array<char, header_bytes> encode_header(std::uint32_t length) {
  return {static_cast<char>(length >> 24), static_cast<char>((length >> 16) & 0xff),
          static_cast<char>((length >> 8) & 0xff), static_cast<char>(length & 0xff)};
}

frame_decoder::outcome frame_decoder::next(std::string_view& in, std::string& out) {
  while (!in_body_) {
    if (in.empty())
      return outcome::need_more;
    auto take = std::min(header_bytes - header_have_, in.size());
    std::memcpy(header_.data() + header_have_, in.data(), take);
    header_have_ += take;
    in.remove_prefix(take);
    if (header_have_ < header_bytes)
      return outcome::need_more;
    declared_ = (std::uint64_t{header_[0]} << 24) | (std::uint64_t{header_[1]} << 16) |
                (std::uint64_t{header_[2]} << 8) | std::uint64_t{header_[3]};
    if (declared_ > max_)
      return outcome::oversized; // before any byte of the payload is stored
    header_have_ = 0;
    in_body_ = true;
    body_.clear();
    // Memory follows the bytes that actually arrive: a peer that declares a
    // large frame and stalls holds at most this much.
    body_.reserve(std::min<std::size_t>(static_cast<std::size_t>(declared_), reserve_ahead_bytes));
  }
  auto take = std::min(static_cast<std::size_t>(declared_) - body_.size(), in.size());
  body_.append(in.data(), take);
  in.remove_prefix(take);
  if (body_.size() < declared_)
    return outcome::need_more;
  in_body_ = false;
  out = std::move(body_);
  body_ = std::string();
  return outcome::frame;
}

std::string encode_hello(const hello& h) {
  auto s = start_payload(kind_hello);
  put_u32(s, h.wire_version);
  put_u64(s, h.incarnation);
  put_bytes(s, h.node_id, max_name_bytes);
  put_bytes(s, h.advertise, max_name_bytes);
  return s;
}

std::string encode_refusal(std::string_view reason) {
  auto s = start_payload(kind_refusal);
  put_bytes(s, reason, max_reason_bytes);
  return s;
}

result<first_frame> decode_first_frame(std::string_view payload) {
  if (payload.size() < magic.size() + 1 || std::memcmp(payload.data(), magic.data(), magic.size()) != 0)
    return error{errc::bad_request, "not a hello (bad magic)"};
  reader r{payload.substr(magic.size() + 1)};
  first_frame f;
  auto kind = static_cast<unsigned char>(payload[magic.size()]);
  if (kind == kind_hello) {
    hello h;
    h.wire_version = static_cast<std::uint32_t>(r.uint(4));
    h.incarnation = r.uint(8);
    h.node_id = r.bytes(max_name_bytes);
    h.advertise = r.bytes(max_name_bytes);
    f.hi = std::move(h);
  } else if (kind == kind_refusal) {
    f.refused = refusal{r.bytes(max_reason_bytes)};
  } else {
    return error{errc::bad_request, "unknown first-frame kind " + std::to_string(kind)};
  }
  if (!r.ok)
    return error{errc::bad_request, "truncated or over-long hello"};
  if (!r.in.empty())
    return error{errc::bad_request, "trailing bytes after hello"};
  if (f.hi && f.hi->node_id.empty())
    return error{errc::bad_request, "hello without node_id"};
  return f;
}

} // namespace ferro::transport::wire
