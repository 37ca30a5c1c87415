#pragma once

#include <functional>

#include "common/metrics.hpp"
#include "common/status.hpp"
#include "service/messages.hpp"

namespace ferro {

/// What the HTTP layer needs from a node. Implemented by `node`
/// (actors/node.hpp) and, in a cluster, by the routing service in cluster/.
/// Every asynchronous call invokes its callback exactly once, possibly
/// inline on the calling thread (queries are served on the I/O thread through
/// the namespace read views) and possibly on an actor thread; callers hop back
/// to their own strand themselves.
class cache_service {
public:
  template <class T>
  using callback = std::function<void(result<T>)>;

  virtual ~cache_service() = default;

  virtual void insert(insert_request req, callback<insert_reply> done) = 0;
  virtual void query(query_request req, callback<query_reply> done) = 0;
  virtual void remove(delete_request req, callback<delete_reply> done) = 0;
  virtual void invalidate(invalidate_request req, callback<invalidate_reply> done) = 0;
  virtual void compact(callback<compact_reply> done) = 0;
  virtual void entry_stats(callback<entry_stats_reply> done) = 0;
  virtual void stats(callback<stats_reply> done) = 0;
  /// Records feedback on a served hit (durable before it is acknowledged).
  /// Not pure so that services written before it still compile.
  virtual void feedback(feedback_request, callback<feedback_reply> done) {
    done(error{errc::unavailable, "feedback is not supported by this service"});
  }

  /// Cheap and synchronous: safe on an I/O thread.
  virtual health_reply health() = 0;
  virtual cluster_status_reply cluster_status() = 0;
  virtual node_metrics& metrics() = 0;
};

} // namespace ferro
