#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.hpp"

/// The peer wire format, without sockets: length-prefixed frames and the
/// hello/refusal messages of the handshake (README.md, "Wire format").
namespace ferro::transport::wire {

constexpr std::size_t header_bytes = 4;
/// "FCT1": the first bytes of every hello or refusal payload.
constexpr std::array<char, 4> magic = {'F', 'C', 'T', '1'};
/// Largest hello or refusal payload; the limit of the first frame either way.
constexpr std::size_t max_hello_bytes = 1024;
constexpr std::size_t max_name_bytes = 255;
constexpr std::size_t max_reason_bytes = 512;

/// The 4-byte big-endian length prefix of a frame of `length` payload bytes.
std::array<char, header_bytes> encode_header(std::uint32_t length);

/// Splits a byte stream into frames. The declared length is checked against
/// the limit before any byte of the payload is stored.
class frame_decoder {
public:
  explicit frame_decoder(std::size_t max_frame_bytes) : max_(max_frame_bytes) {}

  enum class outcome {
    frame,     ///< `out` holds one whole frame
    need_more, ///< `in` is used up; feed more bytes
    oversized, ///< a header declared more than the limit; the stream is unusable
  };

  /// Consumes bytes from the front of `in` until one frame is complete or
  /// `in` is empty. After `oversized`, declared_length() tells the length.
  outcome next(std::string_view& in, std::string& out);

  void set_limit(std::size_t max_frame_bytes) { max_ = max_frame_bytes; }
  /// True while part of a header or of a payload has been consumed: an EOF
  /// now means a truncated frame.
  bool mid_frame() const { return header_have_ > 0 || in_body_; }
  std::uint64_t declared_length() const { return declared_; }

private:
  std::size_t max_;
  std::array<unsigned char, header_bytes> header_{};
  std::size_t header_have_ = 0;
  bool in_body_ = false;
  std::uint64_t declared_ = 0;
  std::string body_;
};

/// What the first frame of a connection says.
struct hello {
  std::uint32_t wire_version = 0;
  std::uint64_t incarnation = 0;
  std::string node_id;
  std::string advertise;
};

/// The acceptor's answer when it will not talk to the dialer.
struct refusal {
  std::string reason;
};

/// Payloads of the first frame (without the length prefix).
std::string encode_hello(const hello& h);
std::string encode_refusal(std::string_view reason);

/// Parses the first frame of a connection: a hello, a refusal, or an error
/// (bad magic, truncated, trailing bytes, over-long names).
struct first_frame {
  std::optional<hello> hi;
  std::optional<refusal> refused;
};
result<first_frame> decode_first_frame(std::string_view payload);

} // namespace ferro::transport::wire
