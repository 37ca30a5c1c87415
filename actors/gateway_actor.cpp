#include "actors/gateway_actor.hpp"

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/errors.hpp"
#include "actors/namespace_directory.hpp"

namespace ferro {

namespace {

struct gateway_state {
  namespace_directory* directory = nullptr;
  storage_actor storage;
  gateway_settings settings;
  std::size_t in_flight = 0;
  static inline const char* name = "ferro.gateway";
};

using gateway_pointer = gateway_actor::stateful_pointer<gateway_state>;

// Admission control: every queue has a bound (DESIGN.md, invariant 6).
template <class T>
bool admit(gateway_pointer self, const completion<T>& done) {
  if (self->state.in_flight >= self->state.settings.max_in_flight) {
    if (auto* m = self->state.settings.metrics)
      m->http_rejected_overload_total.fetch_add(1, std::memory_order_relaxed);
    done(error{errc::overloaded, "too many requests in flight; retry later"});
    return false;
  }
  ++self->state.in_flight;
  return true;
}

// Collects the replies of a fan-out and completes once all have answered.
template <class Acc>
struct fan_in {
  std::size_t remaining = 0;
  Acc acc{};
  std::optional<error> failure;
};

// Sends one request to the namespace actor of `req.ns` and completes `done`
// with its answer; the request counts as in flight until then.
template <class Atom, class Request, class Reply>
void forward_to_namespace(gateway_pointer self, std::chrono::milliseconds timeout, Atom atom, Request req,
                          completion<Reply> done) {
  if (!admit(self, done))
    return;
  auto ns = self->state.directory->actor_for(req.ns);
  if (!ns) {
    --self->state.in_flight;
    done(error{errc::unavailable, "the node is shutting down"});
    return;
  }
  self->request(ns, timeout, atom, std::move(req))
      .then(
          [=](Reply& r) {
            --self->state.in_flight;
            done(std::move(r));
          },
          [=](caf::error& e) {
            --self->state.in_flight;
            done(from_caf_error(e));
          });
}

gateway_actor::behavior_type gateway_behavior(gateway_pointer self, namespace_directory* directory,
                                              storage_actor storage, gateway_settings settings) {
  self->state.directory = directory;
  self->state.storage = std::move(storage);
  self->state.settings = settings;
  auto timeout = settings.request_timeout;
  return {
      [=](insert_atom atom, insert_request& req, completion<insert_reply> done) {
        forward_to_namespace(self, timeout, atom, std::move(req), std::move(done));
      },
      [=](delete_atom, const delete_request& req, completion<delete_reply> done) {
        // Ids are unique within a namespace but may repeat across namespaces:
        // remove it from every namespace that holds it.
        std::vector<namespace_actor> holders;
        for (auto& it : self->state.directory->all())
          if (it.index && it.index->contains(req.uuid))
            holders.push_back(it.actor);
        if (holders.empty()) {
          done(delete_reply{false});
          return;
        }
        if (!admit(self, done))
          return;
        auto state = std::make_shared<fan_in<bool>>();
        state->remaining = holders.size();
        auto finish = [=] {
          if (--state->remaining > 0)
            return;
          --self->state.in_flight;
          if (state->failure && !state->acc)
            done(*state->failure);
          else
            done(delete_reply{state->acc});
        };
        for (auto& h : holders)
          self->request(h, timeout, delete_atom::value, req.uuid)
              .then(
                  [=](bool deleted) {
                    state->acc = state->acc || deleted;
                    finish();
                  },
                  [=](caf::error& e) {
                    state->failure = from_caf_error(e);
                    finish();
                  });
      },
      [=](invalidate_atom atom, invalidate_request& req, completion<invalidate_reply> done) {
        if (!self->state.directory->index_of(req.ns)) {
          done(invalidate_reply{}); // a namespace that does not exist: count 0
          return;
        }
        forward_to_namespace(self, timeout, atom, std::move(req), std::move(done));
      },
      [=](feedback_atom atom, feedback_request& req, completion<feedback_reply> done) {
        auto index = self->state.directory->index_of(req.ns);
        if (!index || !index->contains(req.id)) {
          done(error{errc::not_found,
                     "no entry with id '" + req.id + "' in namespace '" + display_name(req.ns) + "'"});
          return;
        }
        forward_to_namespace(self, timeout, atom, std::move(req), std::move(done));
      },
      [=](compact_atom, completion<compact_reply> done) {
        if (!admit(self, done))
          return;
        std::vector<namespace_actor> targets;
        for (auto& it : self->state.directory->all())
          if (it.index)
            targets.push_back(it.actor);
        auto state = std::make_shared<fan_in<std::uint64_t>>();
        state->remaining = targets.size() + 1; // + the final wal sequence
        auto finish_all = [=](std::uint64_t wal_seq) {
          --self->state.in_flight;
          if (state->failure) {
            done(*state->failure);
            return;
          }
          if (auto* m = self->state.settings.metrics)
            m->compactions.fetch_add(1, std::memory_order_relaxed);
          done(compact_reply{state->acc, wal_seq});
        };
        auto ask_sequence = [=] {
          self->request(self->state.storage, timeout, wal_seq_atom::value)
              .then([=](std::uint64_t seq) { finish_all(seq); },
                    [=](caf::error& e) {
                      state->failure = from_caf_error(e);
                      finish_all(0);
                    });
        };
        if (targets.empty()) {
          ask_sequence();
          return;
        }
        state->remaining = targets.size();
        for (auto& t : targets)
          self->request(t, timeout, compact_atom::value)
              .then(
                  [=](std::uint64_t n) {
                    state->acc += n;
                    if (--state->remaining == 0)
                      ask_sequence();
                  },
                  [=](caf::error& e) {
                    state->failure = from_caf_error(e);
                    if (--state->remaining == 0)
                      ask_sequence();
                  });
      },
  };
}

} // namespace

gateway_actor spawn_gateway_actor(caf::actor_system& sys, namespace_directory* directory,
                                  storage_actor storage, gateway_settings settings) {
  return sys.spawn(gateway_behavior, directory, std::move(storage), settings);
}

} // namespace ferro
