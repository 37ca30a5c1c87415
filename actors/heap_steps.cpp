#include "actors/heap_steps.hpp"

#include <malloc.h>

namespace ferro {

namespace {
// glibc's default M_TOP_PAD (DEFAULT_TOP_PAD, the glibc.malloc.top_pad tunable).
constexpr int glibc_default_top_pad = 128 * 1024;
} // namespace

heap_steps::heap_steps(std::size_t step_bytes) {
  ::mallopt(M_TOP_PAD, static_cast<int>(step_bytes));
}

heap_steps::~heap_steps() {
  ::mallopt(M_TOP_PAD, glibc_default_top_pad);
}

} // namespace ferro
