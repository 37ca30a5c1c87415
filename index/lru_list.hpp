#pragma once

#include <cstddef>
#include <cstdint>

namespace ferro {

/// Intrusive doubly-linked list kept sorted by a recency key, least recent
/// first; equal keys keep the order they were inserted or updated in (events
/// within one millisecond stay in event order). T provides `lru_prev`,
/// `lru_next` (T*) and `lru_key` (std::int64_t).
///
/// Insertion walks back from the most recent end, so the usual case (a key
/// at least as recent as every other) is O(1). Not synchronised.
template <class T>
class lru_list {
public:
  std::size_t size() const { return size_; }
  T* oldest() const { return head_; }

  void insert(T& x, std::int64_t key) {
    x.lru_key = key;
    T* after = tail_;
    while (after && after->lru_key > key)
      after = after->lru_prev;
    x.lru_prev = after;
    x.lru_next = after ? after->lru_next : head_;
    (x.lru_prev ? x.lru_prev->lru_next : head_) = &x;
    (x.lru_next ? x.lru_next->lru_prev : tail_) = &x;
    ++size_;
  }

  void erase(T& x) {
    (x.lru_prev ? x.lru_prev->lru_next : head_) = x.lru_next;
    (x.lru_next ? x.lru_next->lru_prev : tail_) = x.lru_prev;
    x.lru_prev = x.lru_next = nullptr;
    --size_;
  }

  /// Moves x to its place for a new key.
  void update(T& x, std::int64_t key) {
    if (&x == tail_ && key >= x.lru_key) { // already the most recent
      x.lru_key = key;
      return;
    }
    erase(x);
    insert(x, key);
  }

private:
  T* head_ = nullptr;
  T* tail_ = nullptr;
  std::size_t size_ = 0;
};

} // namespace ferro
