#pragma once

/// One namespace's replication stream from its primary to one replica, as
/// sans-IO protocol logic (no CAF, sockets, threads or clocks), templated on
/// the backend that carries its messages and on the payload (the product ships
/// encoded log records). cluster/README.md, "Replication channel", describes
/// the protocol.
///
/// Messages, all tagged with the sender's epoch:
///   primary -> replica: event(epoch, seq, payload), heartbeat(epoch, last_seq)
///   replica -> primary: ack(epoch, seq) (cumulative, durable),
///                       nack(epoch, from_seq) (resend from; with a newer
///                       epoch it is a refusal that fences the primary)
///
/// - `producer<Backend, Payload>` (replication_producer.hpp): the primary's
///   end, one per replica; `producer_backend` is what it calls.
/// - `consumer<Backend, Payload>` (replication_consumer.hpp): the replica's
///   end; `consumer_backend` is what it calls.
/// - `channel_settings` (replication_settings.hpp): bounds and timers.

#include "cluster/replication_consumer.hpp"
#include "cluster/replication_producer.hpp"
#include "cluster/replication_settings.hpp"
