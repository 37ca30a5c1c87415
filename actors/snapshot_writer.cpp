#include "actors/snapshot_writer.hpp"

#include <malloc.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <utility>

#include <caf/actor_system.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <spdlog/spdlog.h>

#include "actors/errors.hpp"
#include "index/graph_image.hpp"
#include "storage/crc32c.hpp"

namespace ferro {

result<prepared_snapshot> write_snapshot(wal_store& store, snapshot_job& job) {
  auto started = std::chrono::steady_clock::now();
  // The last owner of the image: whatever happens, it is freed on return.
  std::shared_ptr<namespace_image> image = std::move(job.image);
  if (!image)
    return error{errc::internal, "snapshot job without an image"};
  auto image_bytes = image->graph.memory_bytes();
  std::filesystem::path tmp{job.tmp_dir};
  // The manifest needs the graph file's CRC-32C: compute it from the bytes
  // as they are written instead of reading 100+ MB back.
  storage::file_digest digest;
  auto written = write_graph_image(image->graph, tmp / storage::graph_file_name,
                                   [&digest](const void* data, std::size_t n) {
                                     digest.crc = storage::crc32c_extend(digest.crc, data, n);
                                     digest.bytes += n;
                                   });
  if (!written)
    return written.err();
  // The entries file takes the embeddings from the graph copy, so the image
  // holds every vector once.
  const namespace_image& img = *image;
  auto prepared = store.write_snapshot_files(job.ns, tmp, job.covered_ns_seq, img.dimension, img.entries,
                                             digest, [&img](std::size_t i) { return img.embedding(i); });
  image.reset();
  // The copy of every entry is gone now; hand its pages back to the system
  // instead of keeping them in malloc's arenas (here, not on a hot thread).
  malloc_trim(0);
  if (prepared) {
    prepared->quality_state = job.quality_state;
    prepared->epoch = job.epoch;
    prepared->whole = job.whole;
    prepared->lineage_from = job.lineage_from;
  }
  if (prepared) {
    spdlog::debug("snapshot of {}: {} entries, graph image {} MB, files written in {:.3f} s",
                  display_name(job.ns), prepared->entry_count, image_bytes >> 20,
                  std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  }
  return prepared;
}

namespace {

struct writer_state {
  std::shared_ptr<wal_store> store;
  bool detached = false;
  bool deprioritised = false;
  static inline const char* name = "ferro.snapshot_writer";
};

// A snapshot has no deadline, so the writer yields the CPU to the hot
// threads (HNSW inserts, HTTP, WAL commits); nice 10 still gets about a tenth
// of a busy core, so it cannot starve. Measured alone on the 2-core VM it made
// no visible difference (one A/B fill, p99 ~137 ms either way): most of the
// p99 cost of background snapshots was WAL fsyncs inheriting the snapshot
// files' writeback, which the writers now bound (common/write_back.hpp).
// Linux applies a nice value per thread; only a detached writer owns its
// thread.
void deprioritise_this_thread() {
  if (::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), 10) != 0)
    spdlog::warn("snapshot writer: cannot lower its priority: {}", std::strerror(errno));
}

using writer_pointer = snapshot_writer_actor::stateful_pointer<writer_state>;

snapshot_writer_actor::behavior_type writer_behavior(writer_pointer self, std::shared_ptr<wal_store> store,
                                                     bool detached) {
  self->state.store = std::move(store);
  self->state.detached = detached;
  return {
      [=](snap_write_atom, snapshot_job& job) -> caf::result<prepared_snapshot> {
        // In the handler, so that it surely runs on the writer's own thread.
        if (self->state.detached && !std::exchange(self->state.deprioritised, true))
          deprioritise_this_thread();
        auto prepared = write_snapshot(*self->state.store, job);
        if (!prepared)
          return to_caf_error(prepared.err());
        return std::move(prepared.value());
      },
  };
}

} // namespace

snapshot_writer_actor spawn_snapshot_writer(caf::actor_system& sys, std::shared_ptr<wal_store> store,
                                            bool detached) {
  if (detached)
    return sys.spawn<caf::detached>(writer_behavior, std::move(store), true);
  return sys.spawn(writer_behavior, std::move(store), false);
}

} // namespace ferro
