#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace ferro {

/// Identity of a namespace: (model_id, cache_scope, conversation_id).
/// Optional parts are empty when absent; callers blank-normalise first
/// (see `is_blank`), so an empty string always means "absent".
struct namespace_key {
  std::string model_id;
  std::string cache_scope;
  std::string conversation_id;

  bool has_scope() const { return !cache_scope.empty(); }
  bool has_conversation() const { return !conversation_id.empty(); }

  /// The tenant-global namespace a conversation falls back to.
  namespace_key base() const { return {model_id, cache_scope, {}}; }

  friend bool operator==(const namespace_key&, const namespace_key&) = default;
  friend auto operator<=>(const namespace_key&, const namespace_key&) = default;
};

/// True for empty or whitespace-only strings (API.md: blank counts as absent).
bool is_blank(std::string_view s);

/// Human display name: model_id[::scope][::conv_<id>]. Not unique.
std::string display_name(const namespace_key& key);

/// Unambiguous, reversible encoding (length-prefixed parts), used as the map
/// key and on disk. Distinct keys always encode differently, whatever the
/// strings contain.
std::string encode_key(const namespace_key& key);
std::optional<namespace_key> decode_key(std::string_view encoded);

struct namespace_key_hash {
  std::size_t operator()(const namespace_key& k) const noexcept;
};

/// Exact-match normalisation: split on whitespace, lower-case (ASCII), join
/// with single spaces.
std::string normalize_text(std::string_view text);

} // namespace ferro
