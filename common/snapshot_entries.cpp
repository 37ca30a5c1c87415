#include "common/snapshot_entries.hpp"

#include <cstring>

namespace ferro {

void copy_embedding(const entry_ref& e, float* out) {
  if (e.embedding_values > 0)
    std::memcpy(out, e.embedding, std::size_t{e.embedding_values} * sizeof(float));
}

labelled_entry to_labelled_entry(const entry_ref& e) {
  labelled_entry le;
  le.label = e.label;
  le.entry.uuid = std::string(e.uuid);
  le.entry.embedding.resize(e.embedding_values);
  copy_embedding(e, le.entry.embedding.data());
  le.entry.response = std::string(e.response);
  le.entry.query_text = std::string(e.query_text);
  le.entry.created_at_ms = e.created_at_ms;
  le.entry.expires_at_ms = e.expires_at_ms;
  le.entry.access_count = e.access_count;
  le.entry.last_accessed_ms = e.last_accessed_ms;
  return le;
}

snapshot_entries snapshot_entries::borrow(const std::vector<labelled_entry>& entries) {
  std::vector<entry_ref> refs;
  refs.reserve(entries.size());
  for (const auto& le : entries) {
    const auto& e = le.entry;
    refs.push_back({le.label, e.uuid, e.response, e.query_text, e.embedding.data(),
                    static_cast<std::uint32_t>(e.embedding.size()), e.created_at_ms, e.expires_at_ms,
                    e.access_count, e.last_accessed_ms});
  }
  return snapshot_entries(nullptr, std::move(refs));
}

std::vector<labelled_entry> snapshot_entries::copy_all() const {
  std::vector<labelled_entry> out;
  out.reserve(refs_.size());
  for (const auto& r : refs_)
    out.push_back(to_labelled_entry(r));
  return out;
}

} // namespace ferro
