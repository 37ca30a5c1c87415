#include "http/json_writer.hpp"

#include <charconv>
#include <cmath>

#include "http/utf8.hpp"

namespace ferro {

void append_json_string(std::string& out, std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  out.reserve(out.size() + s.size() + 2);
  out += '"';
  while (!s.empty()) {
    auto c = static_cast<unsigned char>(s.front());
    if (c >= 0x80) {
      std::size_t n = http_detail::utf8_sequence_length(s);
      if (n == 0) {
        out += "\xEF\xBF\xBD"; // U+FFFD for one malformed byte
        n = 1;
      } else {
        out.append(s.data(), n);
      }
      s.remove_prefix(n);
      continue;
    }
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out += hex[c >> 4];
          out += hex[c & 0xF];
        } else {
          out += static_cast<char>(c);
        }
    }
    s.remove_prefix(1);
  }
  out += '"';
}

void append_json_number(std::string& out, double v) {
  if (!std::isfinite(v)) {
    out += "null";
    return;
  }
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, end);
}

json_writer& json_writer::begin_object() {
  before_value();
  out_ += '{';
  has_items_.push_back(false);
  return *this;
}

json_writer& json_writer::end_object() {
  has_items_.pop_back();
  out_ += '}';
  return *this;
}

json_writer& json_writer::begin_array() {
  before_value();
  out_ += '[';
  has_items_.push_back(false);
  return *this;
}

json_writer& json_writer::end_array() {
  has_items_.pop_back();
  out_ += ']';
  return *this;
}

json_writer& json_writer::key(std::string_view k) {
  if (!has_items_.empty()) {
    if (has_items_.back())
      out_ += ',';
    has_items_.back() = true;
  }
  append_json_string(out_, k);
  out_ += ':';
  after_key_ = true;
  return *this;
}

json_writer& json_writer::string(std::string_view s) {
  before_value();
  append_json_string(out_, s);
  return *this;
}

json_writer& json_writer::number(double v) {
  before_value();
  append_json_number(out_, v);
  return *this;
}

json_writer& json_writer::number(std::uint64_t v) {
  before_value();
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out_.append(buf, end);
  return *this;
}

json_writer& json_writer::number(std::int64_t v) {
  before_value();
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out_.append(buf, end);
  return *this;
}

json_writer& json_writer::boolean(bool v) {
  before_value();
  out_ += v ? "true" : "false";
  return *this;
}

json_writer& json_writer::null() {
  before_value();
  out_ += "null";
  return *this;
}

std::string json_writer::take() {
  has_items_.clear();
  after_key_ = false;
  std::string out = std::move(out_);
  out_.clear();
  return out;
}

void json_writer::before_value() {
  if (after_key_) {
    // The key already wrote the separator.
    after_key_ = false;
    return;
  }
  if (!has_items_.empty()) {
    if (has_items_.back())
      out_ += ',';
    has_items_.back() = true;
  }
}

} // namespace ferro
