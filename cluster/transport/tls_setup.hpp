#pragma once

#include <memory>
#include <string>

#include <boost/asio/ssl/context.hpp>

#include "cluster/transport/transport_types.hpp"
#include "common/status.hpp"

/// The mutual-TLS rules of the transport in one place (README.md, "TLS").
namespace ferro::transport::tls {

/// One context for both directions: TLS 1.2 or newer, no anonymous or
/// export ciphers, the cluster CA as the only trust anchor, and a peer
/// certificate required both ways. Fails with a message naming the option
/// and the file when a file is missing, unreadable or does not parse, or
/// when the key does not match the certificate.
result<std::shared_ptr<boost::asio::ssl::context>> make_context(const tls_options& opts);

/// Whether the peer certificate of an established TLS session names
/// `node_id` (a SAN DNS or IP entry, or the subject CN).
bool certificate_names(SSL* session, const std::string& node_id);

} // namespace ferro::transport::tls
