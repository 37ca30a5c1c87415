#pragma once

#include <bit>
#include <cstddef>
#include <functional>
#include <memory>
#include <string_view>
#include <utility>

#include "index/entry_slot.hpp"

namespace ferro {

/// The uuid table: owns a namespace's entry slots and finds them by their
/// own uuid().
///
/// Open addressing over a power-of-two array of slot pointers: linear
/// probing, deletion by shifting the rest of the run back (no tombstones),
/// a load of at most 3/4. That is 8 bytes a bucket, 11-21 B an entry; the
/// std::unordered_set it replaces took a 32-byte node and a bucket pointer
/// per entry (~40 B; index/README.md, "Where the memory goes"). A probe
/// reads the probed slot's uuid (no hashes are stored), which is fine for
/// uuid lookups (writes, get): searches go by vector, not through here.
///
/// Not thread-safe; namespace_index guards it with its own lock. Inserting
/// may move every element (iterators die, as with unordered_set's rehash),
/// and so may erasing (the run after the erased bucket shifts back).
class slot_table {
public:
  template <class T> // entry_slot::ptr, or const entry_slot::ptr
  class basic_iterator {
  public:
    basic_iterator() = default;
    T& operator*() const { return *at_; }
    T* operator->() const { return at_; }
    basic_iterator& operator++() {
      ++at_;
      skip_empty();
      return *this;
    }
    bool operator==(const basic_iterator& o) const { return at_ == o.at_; }

  private:
    friend class slot_table;
    basic_iterator(T* at, T* end) : at_(at), end_(end) { skip_empty(); }
    void skip_empty() {
      while (at_ != end_ && !*at_)
        ++at_;
    }
    T* at_ = nullptr;
    T* end_ = nullptr;
  };
  using iterator = basic_iterator<entry_slot::ptr>;
  using const_iterator = basic_iterator<const entry_slot::ptr>;

  slot_table() = default;
  slot_table(const slot_table&) = delete;
  slot_table& operator=(const slot_table&) = delete;

  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  std::size_t bucket_count() const { return capacity_; }

  iterator begin() { return {buckets_.get(), buckets_.get() + capacity_}; }
  iterator end() { return {buckets_.get() + capacity_, buckets_.get() + capacity_}; }
  const_iterator begin() const { return {buckets_.get(), buckets_.get() + capacity_}; }
  const_iterator end() const { return {buckets_.get() + capacity_, buckets_.get() + capacity_}; }

  iterator find(std::string_view uuid) {
    auto i = locate(uuid);
    return i == capacity_ ? end() : iterator(buckets_.get() + i, buckets_.get() + capacity_);
  }
  const_iterator find(std::string_view uuid) const {
    auto i = locate(uuid);
    return i == capacity_ ? end() : const_iterator(buckets_.get() + i, buckets_.get() + capacity_);
  }
  std::size_t count(std::string_view uuid) const { return locate(uuid) == capacity_ ? 0 : 1; }

  /// Room for n entries without growing.
  void reserve(std::size_t n) {
    auto needed = std::bit_ceil(n + n / 3 + 1);
    if (needed > capacity_)
      rehash(needed);
  }

  /// Takes s unless a slot with its uuid is here: then s is left as it was
  /// and the iterator names the slot already held.
  std::pair<iterator, bool> insert(entry_slot::ptr&& s) {
    if ((size_ + 1) * 4 > capacity_ * 3)
      rehash(capacity_ == 0 ? 8 : capacity_ * 2);
    const auto uuid = s->uuid();
    for (auto i = home(uuid);; i = (i + 1) & (capacity_ - 1)) {
      auto& b = buckets_[i];
      if (!b) {
        b = std::move(s);
        ++size_;
        return {iterator(&b, buckets_.get() + capacity_), true};
      }
      if (b->uuid() == uuid)
        return {iterator(&b, buckets_.get() + capacity_), false};
    }
  }

  /// Removes the slot at `it` from the table and hands it over.
  entry_slot::ptr extract(iterator it) {
    const std::size_t mask = capacity_ - 1;
    auto hole = static_cast<std::size_t>(it.at_ - buckets_.get());
    entry_slot::ptr out = std::move(buckets_[hole]);
    --size_;
    // Backward shift: a later slot of the run moves into the hole unless
    // its home bucket lies after the hole (cyclically, in (hole, j]), where
    // a search would then no longer pass the hole to reach it.
    for (auto j = (hole + 1) & mask; buckets_[j]; j = (j + 1) & mask) {
      auto h = home(buckets_[j]->uuid());
      bool stays = hole <= j ? (h > hole && h <= j) : (h > hole || h <= j);
      if (!stays) {
        buckets_[hole] = std::move(buckets_[j]);
        hole = j;
      }
    }
    return out;
  }
  /// Removes and frees the slot at `it`.
  void erase(iterator it) { extract(it); }

private:
  std::size_t home(std::string_view uuid) const {
    return std::hash<std::string_view>{}(uuid) & (capacity_ - 1);
  }

  /// The bucket holding uuid, or capacity_ if none does.
  std::size_t locate(std::string_view uuid) const {
    if (size_ == 0)
      return capacity_;
    for (auto i = home(uuid);; i = (i + 1) & (capacity_ - 1)) {
      const auto& b = buckets_[i];
      if (!b)
        return capacity_;
      if (b->uuid() == uuid)
        return i;
    }
  }

  void rehash(std::size_t capacity) {
    auto old = std::move(buckets_);
    const auto old_capacity = capacity_;
    buckets_ = std::make_unique<entry_slot::ptr[]>(capacity);
    capacity_ = capacity;
    for (std::size_t k = 0; k < old_capacity; ++k) {
      if (!old[k])
        continue;
      auto i = home(old[k]->uuid());
      while (buckets_[i])
        i = (i + 1) & (capacity_ - 1);
      buckets_[i] = std::move(old[k]);
    }
  }

  std::unique_ptr<entry_slot::ptr[]> buckets_;
  std::size_t capacity_ = 0; ///< 0 or a power of two
  std::size_t size_ = 0;
};

} // namespace ferro
