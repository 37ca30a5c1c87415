#include "cluster/edges/read_forwarder.hpp"

#include <vector>

#include <caf/make_message.hpp>
#include <caf/message.hpp>

#include "actors/errors.hpp"
#include "cluster/edges/peer_codec.hpp"

namespace ferro::cluster {

void read_forwarder::wire(peer_link* link, timer_fn after, fallback_fn fallback) {
  link_ = link;
  after_ = std::move(after);
  fallback_ = std::move(fallback);
  wired_.store(true);
}

void read_forwarder::forward(call_msg call, reply_fn done) {
  auto readers = wired_.load() ? board_->readers_for(call.qry.ns) : std::vector<std::string>{};
  if (readers.empty()) {
    fallback_(std::move(call), std::move(done)); // the actor knows whether this node's copy may answer
    return;
  }
  auto peer = readers.front();
  auto rid = next_rid_.fetch_add(1);
  call.rid = rid;
  call.from = self_id_;
  auto frame = encode_peer_message(*sys_, caf::make_message(call));
  {
    std::lock_guard lock{mtx_};
    pending_.emplace(rid, pending{peer, std::move(call), std::move(done)});
  }
  if (!link_->send(peer, std::move(frame))) {
    pending p;
    if (take(rid, p))
      fall_back(std::move(p));
    return;
  }
  after_(timeout_, [this, rid] {
    pending p;
    if (take(rid, p))
      fall_back(std::move(p));
  });
}

bool read_forwarder::try_complete(const caf::message& msg) {
  if (!msg.match_elements<reply_msg>())
    return false;
  const auto& reply = msg.get_as<reply_msg>(0);
  if ((reply.rid & rid_bit) == 0)
    return false;
  pending p;
  if (!take(reply.rid, p))
    return true; // late: its read already fell back
  if (!reply.ok()) {
    auto code = reply.err().code;
    if (code == errc::not_owner || code == errc::unavailable || code == errc::timeout) {
      fall_back(std::move(p));
      return true;
    }
  }
  p.done(reply);
  return true;
}

void read_forwarder::peer_down(const std::string& peer) {
  std::vector<pending> broken;
  {
    std::lock_guard lock{mtx_};
    for (auto it = pending_.begin(); it != pending_.end();) {
      if (it->second.peer == peer) {
        broken.push_back(std::move(it->second));
        it = pending_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& p : broken)
    fall_back(std::move(p));
}

bool read_forwarder::take(std::uint64_t rid, pending& out) {
  std::lock_guard lock{mtx_};
  auto it = pending_.find(rid);
  if (it == pending_.end())
    return false;
  out = std::move(it->second);
  pending_.erase(it);
  return true;
}

void read_forwarder::fall_back(pending p) {
  p.call.rid = 0;
  fallback_(std::move(p.call), std::move(p.done));
}

} // namespace ferro::cluster
