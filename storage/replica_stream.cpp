#include "storage/replica_stream.hpp"

#include <algorithm>
#include <utility>

namespace ferro {

batch_admission admit_batch(const replica_cursor& at, std::vector<log_record> records) {
  batch_admission out;
  out.base = at.logged_seq;
  if (at.empty && !records.empty() && records.front().ns_seq > 0)
    out.base = records.front().ns_seq - 1;
  out.dimension = at.dimension;
  auto refuse = [&](batch_verdict v, std::string why) {
    out.verdict = v;
    out.why = std::move(why);
    out.fresh.clear();
    return std::move(out);
  };
  for (auto& r : records) {
    out.newest = std::max(out.newest, r.ns_seq);
    if (r.ns_seq <= out.base) {
      // Every record the copy holds is of epoch last_epoch or older, so one
      // of a newer epoch at a number it holds is news, not a retransmission.
      // A deposed leader that logged a write of its own after its
      // successor's catch-up had compared positions took the successor's
      // record at that number for a retransmission and lost it (3-node
      // swarm seed 454: an acknowledged insert on one copy only).
      if (!at.empty && r.epoch > at.last_epoch)
        return refuse(batch_verdict::diverged, "holds its own record " + std::to_string(r.ns_seq) +
                                                   " (epoch " + std::to_string(at.last_epoch) +
                                                   " or older), not that of epoch " +
                                                   std::to_string(r.epoch) + ": it must be rebuilt");
      continue;
    }
    if (r.ns_seq != out.base + out.fresh.size() + 1 || !(r.ns == at.ns))
      return refuse(batch_verdict::gap,
                    "holds up to " + std::to_string(out.base) + ", got record " + std::to_string(r.ns_seq));
    if (r.op == log_op::insert) {
      auto dim = r.entry.embedding.size();
      if (out.dimension != 0 && dim != out.dimension)
        return refuse(batch_verdict::dimension, "replicated insert of dimension " + std::to_string(dim) +
                                                    " into namespace of dimension " +
                                                    std::to_string(out.dimension));
      out.dimension = dim;
    }
    out.fresh.push_back(std::move(r));
  }
  return out;
}

} // namespace ferro
