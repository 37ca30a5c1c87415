#pragma once

#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace ferro {

/// Error classes; each maps to one HTTP status in http/ (see API.md).
enum class errc {
  bad_request,   ///< 400: malformed or out-of-range value
  unprocessable, ///< 422: missing field or wrong type
  not_found,     ///< 404
  overloaded,    ///< 429: a bounded queue is full
  unavailable,   ///< 503: recovering, shutting down, or storage down
  timeout,       ///< 504: a participant did not answer in time
  internal,      ///< 500
};

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
