#pragma once

#include <memory>

#include <caf/actor.hpp>
#include <caf/fwd.hpp>

#include "actors/node.hpp"
#include "cluster/edges/cluster_board.hpp"
#include "cluster/edges/peer_messages.hpp"
#include "cluster/edges/cluster_settings.hpp"
#include "cluster/edges/peer_link.hpp"
#include "cluster/edges/peer_reads.hpp"
#include "cluster/edges/read_forwarder.hpp"
#include "cluster/transport/frame_transport.hpp"
#include "service/cache_service.hpp"

namespace ferro::cluster {

/// A node taking part in a cluster: the `cache_service` the HTTP layer
/// calls in clustered mode. Writes go to the namespace's primary (one hop
/// when it is another node); queries are answered here, on the I/O thread,
/// when this node holds an in-sync copy, else by the primary; deletes by id
/// find the namespaces that hold the id on every live node. Per-node routes
/// (/stats, /compact, /health) stay local.
///
/// Start-up order (app/main.cpp): create() binds the cluster port and
/// spawns the cluster actor; configure() fills the node's settings (its
/// primaries ship to that actor, and every copy starts as a replica until
/// an election says otherwise); attach() names the node once constructed;
/// start() after node::start().
class cluster_node final : public cache_service {
public:
  static result<std::unique_ptr<cluster_node>> create(cluster_settings settings, caf::actor_system& sys);
  ~cluster_node() override;

  void configure(node_settings& settings) const;
  void attach(node& local);
  void start();
  /// Stops the cluster actor and the transport; call after node::shutdown.
  void stop();

  void insert(insert_request req, callback<insert_reply> done) override;
  void query(query_request req, callback<query_reply> done) override;
  void remove(delete_request req, callback<delete_reply> done) override;
  void invalidate(invalidate_request req, callback<invalidate_reply> done) override;
  void compact(callback<compact_reply> done) override;
  void entry_stats(callback<entry_stats_reply> done) override;
  void stats(callback<stats_reply> done) override;
  void feedback(feedback_request req, callback<feedback_reply> done) override;
  health_reply health() override;
  cluster_status_reply cluster_status() override;
  node_metrics& metrics() override;

private:
  cluster_node() = default;
  void route(call_msg call, std::function<void(reply_msg)> done);

  caf::actor_system* sys_ = nullptr;
  node* local_ = nullptr;
  std::unique_ptr<transport::frame_transport> transport_;
  std::unique_ptr<peer_link> link_;
  caf::actor actor_;
  std::shared_ptr<cluster_board> board_;
  struct target_holder;
  std::shared_ptr<target_holder> target_;
  std::shared_ptr<peer_reads> reads_;
  std::shared_ptr<read_forwarder> forwarder_;
  bool stopped_ = false;
};

} // namespace ferro::cluster
