#include "sim/sim_network.hpp"

#include <algorithm>

#include <caf/send.hpp>

#include <spdlog/spdlog.h>

#include "cluster/edges/cluster_actor.hpp"

namespace ferro::sim {

namespace {

std::pair<std::string, std::string> unordered(const std::string& a, const std::string& b) {
  return a < b ? std::make_pair(a, b) : std::make_pair(b, a);
}

class sim_link final : public cluster::peer_link {
public:
  sim_link(sim_network& net, std::string self) : net_(net), self_(std::move(self)) {}
  void connect(const std::string& address) override { net_.connect(self_, address); }
  bool send(const std::string& node_id, std::string frame) override {
    return net_.send(self_, node_id, std::move(frame));
  }
  void disconnect(const std::string& node_id) override { net_.disconnect(self_, node_id); }

private:
  sim_network& net_;
  std::string self_;
};

} // namespace

void sim_network::add_node(const std::string& id, const std::string& address, caf::actor cluster_actor,
                           std::uint64_t incarnation) {
  nodes_[id] = node_entry{address, std::move(cluster_actor), incarnation};
}

std::unique_ptr<cluster::peer_link> sim_network::link_for(const std::string& id) {
  return std::make_unique<sim_link>(*this, id);
}

void sim_network::mix(std::uint64_t v) {
  trace_ = (trace_ ^ v) * 1099511628211ull;
}

bool sim_network::reachable(const std::string& from, const std::string& to) const {
  return nodes_.count(from) && nodes_.count(to) && !cuts_.count(unordered(from, to)) &&
         !one_way_.count({from, to}) && !down_.count(from) && !down_.count(to);
}

void sim_network::cut_one_way(const std::string& from, const std::string& to, bool cut_off) {
  spdlog::debug("sim: t={} {} {} -> {}", now_, cut_off ? "one-way cut" : "one-way heal", from, to);
  if (!cut_off) {
    one_way_.erase({from, to});
    return;
  }
  one_way_.insert({from, to});
  break_connection(from, to);
}

void sim_network::set_paused(const std::string& id, bool paused) {
  spdlog::debug("sim: t={} {} {}", now_, paused ? "pause" : "resume", id);
  if (paused) {
    paused_.insert(id);
    return;
  }
  paused_.erase(id);
  // First what it did while stopped (as its timers fire on resume), then
  // what waited for it: both in their order.
  auto out = std::move(held_out_[id]);
  held_out_.erase(id);
  for (auto& op : out)
    op();
  auto in = std::move(held_in_[id]);
  held_in_.erase(id);
  for (auto& e : in) {
    e.at = now_;
    schedule(std::move(e));
  }
}

void sim_network::set_down(const std::string& id, bool down) {
  if (!down) {
    down_.erase(id);
    return;
  }
  down_.insert(id);
  for (const auto& [other, entry] : nodes_)
    if (other != id) {
      break_connection(id, other);
      break_connection(other, id);
    }
}

std::int64_t sim_network::delay() {
  std::uniform_int_distribution<int> d(faults_.min_delay_ms,
                                       std::max(faults_.min_delay_ms, faults_.max_delay_ms));
  return d(rng_);
}

void sim_network::schedule(event e) {
  if (e.what != kind::frame) {
    // A node learns of one peer's connections going up and down in the
    // order they did (the transport reports them from one I/O thread): a
    // dial's "up" overtaken by the "down" of a cut would leave the node
    // believing in a connection that is gone.
    auto& last = control_at_[{e.to, e.payload}];
    e.at = std::max(e.at, last);
    last = e.at;
  }
  e.order = order_++;
  queue_.push(std::move(e));
}

void sim_network::connect(const std::string& from, const std::string& address) {
  if (paused_.count(from)) {
    held_out_[from].push_back([this, from, address] { connect(from, address); });
    return;
  }
  spdlog::debug("sim: t={} {} dials {}", now_, from, address);
  std::string target;
  for (const auto& [id, n] : nodes_)
    if (n.address == address)
      target = id;
  event e;
  e.to = from;
  e.payload = address;
  e.at = now_ + delay();
  if (target.empty() || !reachable(from, target)) {
    e.what = kind::down; // the dial fails: the dialer learns no id
    schedule(std::move(e));
    return;
  }
  if (connections_.count({from, target}))
    return; // already up: a no-op, as in the real transport
  connections_.insert({from, target});
  e.what = kind::up;
  e.from = target;
  e.incarnation = nodes_[target].incarnation;
  schedule(std::move(e));
}

bool sim_network::send(const std::string& from, const std::string& to, std::string frame) {
  if (!connections_.count({from, to}))
    return false;
  if (paused_.count(from)) {
    // Written into the socket by a process that is stopped: sent when it
    // resumes, on the same connection if that still exists.
    auto generation = generation_[{from, to}];
    held_out_[from].push_back([this, from, to, generation, frame = std::move(frame)]() mutable {
      if (generation == generation_[{from, to}])
        send(from, to, std::move(frame));
    });
    return true;
  }
  if (!reachable(from, to) ||
      (faults_.loss > 0 && std::uniform_real_distribution<double>(0, 1)(rng_) < faults_.loss)) {
    ++dropped_;
    break_connection(from, to);
    return true; // accepted, then lost with its connection
  }
  auto key = std::make_pair(from, to);
  auto at = std::max(now_ + delay(), last_at_[key]);
  last_at_[key] = at;
  event e;
  e.what = kind::frame;
  e.at = at;
  e.from = from;
  e.to = to;
  e.payload = std::move(frame);
  e.generation = generation_[key];
  schedule(std::move(e));
  return true;
}

void sim_network::break_connection(const std::string& a, const std::string& b) {
  if (!connections_.erase({a, b}))
    return;
  ++generation_[{a, b}];
  // Both ends see the connection go, the dialer with the dialed id.
  for (const auto& [to, other] : {std::make_pair(a, b), std::make_pair(b, a)}) {
    event e;
    e.what = kind::down;
    e.to = to;
    e.from = other;
    e.payload = nodes_.count(other) ? nodes_[other].address : std::string{};
    e.at = now_ + delay();
    schedule(std::move(e));
  }
}

void sim_network::disconnect(const std::string& from, const std::string& to) {
  if (paused_.count(from)) {
    held_out_[from].push_back([this, from, to] { disconnect(from, to); });
    return;
  }
  break_connection(from, to);
  break_connection(to, from);
}

void sim_network::cut(const std::string& a, const std::string& b, bool cut_off) {
  spdlog::debug("sim: t={} {} {} {}", now_, cut_off ? "cut" : "heal", a, b);
  if (!cut_off) {
    cuts_.erase(unordered(a, b));
    return;
  }
  cuts_.insert(unordered(a, b));
  break_connection(a, b);
  break_connection(b, a);
}

void sim_network::heal_all() {
  cuts_.clear();
  one_way_.clear();
}

void sim_network::deliver_due(std::int64_t now_ms) {
  now_ = now_ms;
  while (!queue_.empty() && queue_.top().at <= now_ms) {
    auto e = queue_.top();
    queue_.pop();
    auto it = nodes_.find(e.to);
    if (it == nodes_.end())
      continue;
    if (paused_.count(e.to)) {
      held_in_[e.to].push_back(std::move(e)); // in its socket buffer
      continue;
    }
    auto& actor = it->second.actor;
    switch (e.what) {
      case kind::frame:
        if (e.generation != generation_[{e.from, e.to}])
          continue; // its connection broke: lost
        ++delivered_;
        mix(static_cast<std::uint64_t>(e.at));
        mix(std::hash<std::string>{}(e.payload));
        caf::anon_send(actor, cluster::frame_atom::value, e.from, std::move(e.payload));
        break;
      case kind::up:
        mix(0x75700000ull + static_cast<std::uint64_t>(e.at));
        caf::anon_send(actor, cluster::peer_up_atom::value, e.from, e.incarnation, e.payload);
        break;
      case kind::down:
        mix(0xd0770000ull + static_cast<std::uint64_t>(e.at));
        caf::anon_send(actor, cluster::peer_down_atom::value, e.from, e.payload);
        break;
    }
  }
}

} // namespace ferro::sim
