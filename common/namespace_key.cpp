#include "common/namespace_key.hpp"

#include <charconv>
#include <functional>

namespace ferro {

namespace {

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

void append_part(std::string& out, std::string_view part) {
  out += std::to_string(part.size());
  out += ':';
  out += part;
}

// Reads one "<len>:<bytes>" part from the front of `in`.
std::optional<std::string> take_part(std::string_view& in) {
  auto colon = in.find(':');
  if (colon == std::string_view::npos || colon == 0)
    return std::nullopt;
  std::size_t len = 0;
  auto [ptr, ec] = std::from_chars(in.data(), in.data() + colon, len);
  if (ec != std::errc{} || ptr != in.data() + colon || len > in.size() - colon - 1)
    return std::nullopt;
  std::string part{in.substr(colon + 1, len)};
  in.remove_prefix(colon + 1 + len);
  return part;
}

} // namespace

bool is_blank(std::string_view s) {
  for (char c : s)
    if (!is_space(c))
      return false;
  return true;
}

std::string display_name(const namespace_key& key) {
  std::string out = key.model_id;
  if (key.has_scope())
    out += "::" + key.cache_scope;
  if (key.has_conversation())
    out += "::conv_" + key.conversation_id;
  return out;
}

std::string encode_key(const namespace_key& key) {
  std::string out;
  out.reserve(key.model_id.size() + key.cache_scope.size() + key.conversation_id.size() + 16);
  append_part(out, key.model_id);
  append_part(out, key.cache_scope);
  append_part(out, key.conversation_id);
  return out;
}

std::optional<namespace_key> decode_key(std::string_view encoded) {
  namespace_key key;
  auto model = take_part(encoded);
  auto scope = model ? take_part(encoded) : std::nullopt;
  auto conv = scope ? take_part(encoded) : std::nullopt;
  if (!conv || !encoded.empty())
    return std::nullopt;
  key.model_id = std::move(*model);
  key.cache_scope = std::move(*scope);
  key.conversation_id = std::move(*conv);
  return key;
}

std::size_t namespace_key_hash::operator()(const namespace_key& k) const noexcept {
  std::hash<std::string_view> h;
  std::size_t seed = h(k.model_id);
  // Boost-style combine; the separator-free encoding is fine here because
  // equality, not the hash, decides identity.
  seed ^= h(k.cache_scope) + 0x9e3779b97f4a7c15ULL + (seed << 6) + (seed >> 2);
  seed ^= h(k.conversation_id) + 0x9e3779b97f4a7c15ULL + (seed << 6) + (seed >> 2);
  return seed;
}

std::string normalize_text(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  bool pending_space = false;
  for (char c : text) {
    if (is_space(c)) {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space) {
      out += ' ';
      pending_space = false;
    }
    out += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  }
  return out;
}

} // namespace ferro
