#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace ferro {

/// Error classes; each maps to one HTTP status in http/ (see docs/http.md).
/// The numbers travel between nodes (actors/errors.cpp): they are part of the
/// wire protocol, so a value is never renumbered or reused; new classes get
/// new numbers. 0 stays free because CAF reads error code 0 as "no error".
enum class errc : std::uint8_t {
  bad_request = 1,   ///< 400: malformed or out-of-range value
  unprocessable = 2, ///< 422: missing field or wrong type
  not_found = 3,     ///< 404
  overloaded = 4,    ///< 429: a bounded queue is full
  unavailable = 5,   ///< 503: recovering, shutting down, or storage down
  timeout = 6,       ///< 504: a participant did not answer in time
  internal = 7,      ///< 500
  /// 503: this node does not hold the namespace in the role the request
  /// needs (cluster routing forwards or retries elsewhere).
  not_owner = 8,
  /// 503: a replication record or request from an older epoch of its
  /// namespace; its sender has been replaced as primary.
  fenced = 9,
  /// 503: this replica is behind its primary and is catching up.
  stale_replica = 10,
};

/// The wire number of an error class.
constexpr std::uint8_t wire_code(errc c) {
  return static_cast<std::uint8_t>(c);
}
/// The error class of a wire number; unknown numbers (a newer peer) are
/// internal errors.
constexpr errc errc_from_wire(std::uint8_t n) {
  return n >= wire_code(errc::bad_request) && n <= wire_code(errc::stale_replica) ? static_cast<errc>(n)
                                                                                  : errc::internal;
}

struct error {
  errc code = errc::internal;
  std::string message;
};

/// Either a value or an error; errors are values, never exceptions across
/// module boundaries.
template <class T>
class result {
public:
  result(T value) : v_(std::move(value)) {}
  result(error e) : v_(std::move(e)) {}

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() { return std::get<0>(v_); }
  const T& value() const { return std::get<0>(v_); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() { return value(); }
  const error& err() const { return std::get<1>(v_); }

private:
  std::variant<T, error> v_;
};

/// A result without a value.
class status {
public:
  status() = default;
  status(error e) : err_(std::move(e)) {}
  static status ok_status() { return {}; }
  bool ok() const { return !err_.has_value(); }
  explicit operator bool() const { return ok(); }
  const error& err() const { return *err_; }

private:
  std::optional<error> err_;
};

} // namespace ferro
