// What the simulation's clients ask (docs/simulation.md, "What one run
// does"): inserts with explicit ids, some with a TTL; deletes of
// acknowledged entries; radius invalidations; and what each answer proves.

#include <cmath>

#include <spdlog/spdlog.h>

#include "sim/sim_cluster.hpp"

namespace ferro::sim {

namespace {

constexpr double radius_rounding = 1e-3; ///< similarities this close to a threshold prove nothing

std::vector<float> unit(const std::vector<float>& v) {
  double norm = 0;
  for (auto x : v)
    norm += double{x} * x;
  norm = std::sqrt(norm);
  std::vector<float> out;
  for (auto x : v)
    out.push_back(static_cast<float>(x / norm));
  return out;
}

} // namespace

double cosine(const std::vector<float>& a, const std::vector<float>& b) {
  double ab = 0, aa = 0, bb = 0;
  for (std::size_t i = 0; i < a.size() && i < b.size(); ++i) {
    ab += double{a[i]} * b[i];
    aa += double{a[i]} * a[i];
    bb += double{b[i]} * b[i];
  }
  return aa > 0 && bb > 0 ? ab / std::sqrt(aa * bb) : 0;
}

// lite: inserts and deletes only. swarm: each seed also switches TTLs,
// invalidations and an LRU cap on or off.
void simulation::choose_workload() {
  if (opts_.profile != "swarm")
    return;
  auto coin = [&](double p) { return std::uniform_real_distribution<double>(0, 1)(rng_) < p; };
  if (coin(0.5)) {
    load_.ttl_share = std::uniform_real_distribution<double>(0.1, 0.5)(rng_);
    load_.max_ttl_s = std::uniform_int_distribution<int>(2, 40)(rng_);
  }
  if (coin(0.5))
    load_.invalidations_per_mille = std::uniform_int_distribution<int>(10, 80)(rng_);
  if (coin(0.3))
    load_.lru_cap = std::uniform_int_distribution<std::size_t>(30, 150)(rng_);
  if (coin(0.5))
    load_.retry_share = std::uniform_real_distribution<double>(0.3, 1.0)(rng_);
  spdlog::debug(
      "sim: workload of this seed: TTL on {:.2f} of inserts (1-{} s), {}/1000 invalidations, LRU cap {}",
      load_.ttl_share, load_.max_ttl_s, load_.invalidations_per_mille,
      load_.lru_cap ? std::to_string(*load_.lru_cap) : std::string("none"));
}

bool simulation::may_vanish(const acked_entry& e, std::int64_t at) const {
  if (maybe_invalidated_.count(e.uuid))
    return true;
  // The earliest any node may read it expired: the leader stamped its
  // expiry by a clock at least max_skew behind, a reader's clock runs at
  // most max_skew ahead.
  if (e.ttl_ms > 0 && at >= e.sent_at + e.ttl_ms - 2 * mix_.max_skew_ms - step_ms)
    return true;
  if (load_.lru_cap) {
    auto it = issued_per_ns_.find(display_name(e.ns));
    if (it != issued_per_ns_.end() && it->second > *load_.lru_cap)
      return true; // its namespace went over the cap: it may be the one evicted
  }
  return false;
}

bool simulation::surely_expired(const acked_entry& e, std::int64_t at) const {
  return e.ttl_ms > 0 && at > e.acked_at + e.ttl_ms + 2 * mix_.max_skew_ms + step_ms;
}

void simulation::forget(const std::string& uuid) {
  live_.erase(uuid);
  uncertain_.insert(uuid);
}

// One request now and then at a random node.
void simulation::issue_load() {
  end_lingering(false);
  issue_retries();
  std::uniform_int_distribution<std::size_t> pick(0, nodes_.size() - 1);
  auto& n = nodes_[pick(rng_)];
  if (n.crashed)
    return;
  bool remove = !live_.empty() && std::uniform_int_distribution<int>(0, 9)(rng_) == 0;
  if (remove) {
    issue_delete(n);
    return;
  }
  if (load_.invalidations_per_mille > 0 && !live_.empty() &&
      std::uniform_int_distribution<int>(0, 999)(rng_) < load_.invalidations_per_mille) {
    issue_invalidation(n);
    return;
  }
  issue_insert(n);
}

void simulation::issue_delete(sim_node& n) {
  auto it = live_.begin();
  std::advance(it, std::uniform_int_distribution<std::size_t>(0, live_.size() - 1)(rng_));
  auto entry = it->second;
  if (!deleting_.insert(entry.uuid).second)
    return; // one delete of an entry at a time: a second would rightly find nothing
  cluster::call_msg c;
  c.op = cluster::call_op::remove;
  c.text = entry.uuid;
  n.deletes_in_flight.insert(entry.uuid);
  route(n, std::move(c), [this, &n, entry](cluster::reply_msg r) {
    n.deletes_in_flight.erase(entry.uuid);
    deleting_.erase(entry.uuid);
    spdlog::debug("sim: t={} delete {} of '{}': {}", now(), entry.uuid, display_name(entry.ns),
                  r.ok() ? (r.deleted ? "deleted" : "not found") : r.message);
    if (r.ok() && !r.deleted && may_vanish(entry, now())) {
      forget(entry.uuid); // expired, evicted or invalidated meanwhile: "not found" is the truth
    } else if (r.ok() && !r.deleted) {
      where_is(entry);
      fail("delete of acknowledged entry " + entry.uuid + " of '" + display_name(entry.ns) +
           "' answered 'not found'");
    } else if (r.ok()) {
      live_.erase(entry.uuid);
      gone_[entry.uuid] = entry;
      ++result_.acked_deletes;
    } else {
      // Not acknowledged, so it may or may not have happened: neither
      // answer proves anything about this entry from now on.
      forget(entry.uuid);
      ++result_.refused;
    }
  });
}

void simulation::issue_insert(sim_node& n) {
  acked_entry e;
  e.uuid = "u" + std::to_string(next_uuid_++);
  // Tenants x models; one insert in five reuses the vector of an entry of
  // another tenant of the same model, so that an answer across tenants
  // would be seen (verify()).
  e.ns = namespace_key{"m" + std::to_string(rng_() % 2), "t" + std::to_string(rng_() % 3), ""};
  // (Only vectors drawn fresh are copied, each at most once into a
  // namespace: within one namespace every vector stays unique.)
  std::vector<const acked_entry*> twins;
  if (std::uniform_int_distribution<int>(0, 4)(rng_) == 0)
    for (const auto& [uuid, other] : live_)
      if (!other.twin && other.ns.model_id == e.ns.model_id && other.ns.cache_scope != e.ns.cache_scope &&
          !twinned_.count({display_name(e.ns), uuid}))
        twins.push_back(&other);
  if (!twins.empty()) {
    auto* original = twins[std::uniform_int_distribution<std::size_t>(0, twins.size() - 1)(rng_)];
    e.vec = original->vec;
    e.twin = true;
    twinned_.insert({display_name(e.ns), original->uuid});
  } else {
    std::normal_distribution<float> g;
    for (std::size_t i = 0; i < dim; ++i)
      e.vec.push_back(g(rng_));
  }
  if (load_.ttl_share > 0 && std::uniform_real_distribution<double>(0, 1)(rng_) < load_.ttl_share)
    e.ttl_ms = 1000 * std::uniform_int_distribution<std::int64_t>(1, load_.max_ttl_s)(rng_);
  e.sent_at = now();
  issued_[e.uuid] = e;
  ++issued_per_ns_[display_name(e.ns)];
  send_insert(n, std::move(e));
}

// Sends (or sends again) one insert. A client that got an error re-sends
// the same insert, id and all, now and then: with an explicit id an insert
// is an idempotent upsert (docs/api.md), so a retry may meet its first
// attempt, applied after all, and must not duplicate or lose it.
void simulation::send_insert(sim_node& n, acked_entry e) {
  for (auto& [number, inv] : invalidating_)
    if (inv.ns == e.ns && inside(inv, e.vec))
      maybe_invalidated_.insert(e.uuid); // in flight (or lingering) with it: it may take this one too
  cluster::call_msg c;
  c.op = cluster::call_op::insert;
  c.ins.ns = e.ns;
  c.ins.embedding = e.vec;
  c.ins.response = "r-" + e.uuid;
  c.ins.query_text = "";
  c.ins.uuid = e.uuid;
  if (e.ttl_ms > 0)
    c.ins.ttl_seconds = e.ttl_ms / 1000;
  uncertain_.insert(e.uuid);
  route(n, std::move(c), [this, e](cluster::reply_msg r) mutable {
    if (r.ok()) {
      if (r.ins_reply.id != e.uuid)
        fail("insert of " + e.uuid + " acknowledged with id " + r.ins_reply.id);
      ++result_.acked_inserts;
      issued_[e.uuid].acked_at = now();
      if (maybe_invalidated_.count(e.uuid))
        return; // an invalidation in flight with it may have taken it: uncertain
      uncertain_.erase(e.uuid);
      spdlog::debug("sim: t={} insert {} of '{}' acknowledged (TTL {} s)", now(), e.uuid, display_name(e.ns),
                    e.ttl_ms / 1000);
      e.acked_at = now();
      live_[e.uuid] = e;
    } else {
      spdlog::debug("sim: t={} insert {} of '{}' refused: {}", now(), e.uuid, display_name(e.ns), r.message);
      ++result_.refused;
      if (load_.retry_share > 0 && std::uniform_real_distribution<double>(0, 1)(rng_) < load_.retry_share)
        retries_.emplace_back(now() + std::uniform_int_distribution<std::int64_t>(50, 1000)(rng_), e);
    }
  });
}

// Retries that are due go to a random node, as a client's next attempt
// goes to whichever node its load balancer picks.
void simulation::issue_retries() {
  while (!retries_.empty() && retries_.front().first <= now()) {
    auto e = std::move(retries_.front().second);
    retries_.pop_front();
    auto& n = nodes_[std::uniform_int_distribution<std::size_t>(0, nodes_.size() - 1)(rng_)];
    if (n.crashed)
      continue; // the client gives up
    spdlog::debug("sim: t={} insert {} of '{}' sent again at {}", now(), e.uuid, display_name(e.ns), n.id);
    ++result_.retries;
    send_insert(n, std::move(e));
  }
}

// POST /invalidate: every entry of the namespace within `threshold` of a
// probe goes. The probe is an acknowledged entry's vector, moved a little,
// so that it covers that entry and now and then a neighbour.
void simulation::issue_invalidation(sim_node& n) {
  auto it = live_.begin();
  std::advance(it, std::uniform_int_distribution<std::size_t>(0, live_.size() - 1)(rng_));
  invalidation inv;
  inv.ns = it->second.ns;
  auto probe = it->second.vec;
  std::normal_distribution<float> g(0, std::uniform_real_distribution<float>(0.05f, 0.5f)(rng_));
  for (auto& x : probe)
    x += g(rng_);
  inv.unit = unit(probe);
  inv.threshold = std::uniform_real_distribution<double>(0.7, 0.97)(rng_);
  for (const auto& [uuid, e] : issued_) {
    if (!(e.ns == inv.ns) || gone_.count(uuid) || !inside(inv, e.vec))
      continue;
    // From now on it may be gone at any moment (an insert in flight too).
    maybe_invalidated_.insert(uuid);
    bool may_expire = e.ttl_ms > 0 && now() >= e.sent_at + e.ttl_ms - 2 * mix_.max_skew_ms - step_ms;
    if (live_.count(uuid) && cosine(inv.unit, e.vec) >= inv.threshold + radius_rounding && !may_expire)
      inv.covered.insert(uuid);
  }
  auto number = next_invalidation_++;
  cluster::call_msg c;
  c.op = cluster::call_op::invalidate;
  c.inv.ns = inv.ns;
  c.inv.embedding = probe;
  c.inv.threshold = inv.threshold;
  spdlog::debug("sim: t={} invalidation {} of '{}' at {} (threshold {:.3f}) covers {} entries", now(), number,
                display_name(inv.ns), n.id, inv.threshold, inv.covered.size());
  invalidating_[number] = std::move(inv);
  n.invalidations_in_flight.insert(number);
  route(n, std::move(c), [this, &n, number](cluster::reply_msg r) {
    n.invalidations_in_flight.erase(number);
    settle_invalidation(number, &r);
  });
}

bool simulation::inside(const invalidation& inv, const std::vector<float>& vec) const {
  return cosine(inv.unit, vec) >= inv.threshold - radius_rounding;
}

// What an invalidation's answer proves. Acknowledged: everything surely
// inside its radius when it was sent is gone for good, and nothing it names
// lies outside its radius or namespace. Refused or never answered: nothing
// inside its radius is certain, and it may still take effect for a while
// (invalidation_linger_ms), so entries written meanwhile inside it are not either.
void simulation::settle_invalidation(std::uint64_t number, const cluster::reply_msg* reply) {
  auto it = invalidating_.find(number);
  if (it == invalidating_.end())
    return;
  auto& inv = it->second;
  if (!reply || !reply->ok()) {
    spdlog::debug("sim: t={} invalidation {}: {}", now(), number, reply ? reply->message : "no answer");
    for (const auto& [uuid, e] : issued_)
      if (e.ns == inv.ns && !gone_.count(uuid) && inside(inv, e.vec)) {
        maybe_invalidated_.insert(uuid);
        if (live_.count(uuid))
          forget(uuid);
      }
    inv.linger_until = now() + invalidation_linger_ms();
    ++result_.refused;
    return;
  }
  spdlog::debug("sim: t={} invalidation {} removed {} entries", now(), number, reply->inv_reply.uuids.size());
  ++result_.acked_invalidations;
  for (const auto& uuid : reply->inv_reply.uuids) {
    auto e = issued_.find(uuid);
    if (e == issued_.end() || !(e->second.ns == inv.ns)) {
      fail("an invalidation of '" + display_name(inv.ns) + "' removed " + uuid +
           (e == issued_.end() ? std::string(", an id never inserted")
                               : " of '" + display_name(e->second.ns) + "'"));
      return;
    }
    if (!inside(inv, e->second.vec)) {
      fail("an invalidation of '" + display_name(inv.ns) + "' removed " + uuid + " outside its radius");
      return;
    }
  }
  for (const auto& uuid : inv.covered) {
    auto e = live_.find(uuid);
    if (e == live_.end())
      continue; // deleted or forgotten meanwhile
    gone_[uuid] = e->second;
    live_.erase(e);
  }
  invalidating_.erase(it);
}

void simulation::end_lingering(bool all) {
  for (auto it = invalidating_.begin(); it != invalidating_.end();)
    if (it->second.linger_until > 0 && (all || now() >= it->second.linger_until))
      it = invalidating_.erase(it);
    else
      ++it;
}

} // namespace ferro::sim
