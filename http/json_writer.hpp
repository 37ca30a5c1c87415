#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ferro {

/// Appends `s` as a quoted JSON string: `"` and `\` escaped, control
/// characters as \n, \t, ... or \u00XX; well-formed UTF-8 passes through and
/// malformed bytes become U+FFFD, so the output is always valid JSON.
void append_json_string(std::string& out, std::string_view s);

/// Appends the shortest text that reads back as exactly `v`; `null` for NaN
/// and infinities (JSON has no spelling for them).
void append_json_number(std::string& out, double v);

/// A small streaming JSON writer; inserts commas and colons itself.
///
///   json_writer w;
///   w.begin_object().key("hit").boolean(false).end_object();
///   std::string body = w.take();
class json_writer {
public:
  json_writer& begin_object();
  json_writer& end_object();
  json_writer& begin_array();
  json_writer& end_array();
  json_writer& key(std::string_view k);
  json_writer& string(std::string_view s);
  json_writer& number(double v);
  json_writer& number(std::uint64_t v);
  json_writer& number(std::int64_t v);
  json_writer& boolean(bool v);
  json_writer& null();

  /// The text written so far; the writer is empty afterwards.
  std::string take();

private:
  void before_value();

  std::string out_;
  std::vector<bool> has_items_; ///< per open container: written an item yet?
  bool after_key_ = false;
};

} // namespace ferro
