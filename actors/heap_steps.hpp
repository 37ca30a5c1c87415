#pragma once

#include <cstddef>

namespace ferro {

/// While one lives, the main malloc heap grows in steps of `step_bytes`
/// instead of glibc's 128 KiB (M_TOP_PAD); the default comes back when it
/// dies. For recovery: restore allocates one slot per entry on the main
/// thread while the graph thread faults in its fresh level-0 block, and
/// every small heap growth (brk) waits for the address-space lock behind
/// those faults. At 300k x 384 (clean stop) the main thread was switched
/// out 107 times in brk and the side thread 58 times in mprotect, and the
/// work before the graph took 1.1-2.1 s instead of ~0.45 s. Unused pages of
/// a step are never touched, so they cost address space, not memory.
///
/// Side effect: glibc turns its dynamic mmap threshold off for the rest of
/// the process once M_TOP_PAD is set (allocations of 128 KiB and more are
/// then always mapped, as at start-up, instead of the threshold rising
/// after large frees).
class heap_steps {
public:
  explicit heap_steps(std::size_t step_bytes);
  ~heap_steps();
  heap_steps(const heap_steps&) = delete;
  heap_steps& operator=(const heap_steps&) = delete;
};

} // namespace ferro
