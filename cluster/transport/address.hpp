#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.hpp"

namespace ferro::transport {

struct host_port {
  std::string host;
  std::uint16_t port = 0;
};

/// Splits "host:port", "1.2.3.4:port" or "[v6]:port"; the port must be 1..65535.
result<host_port> parse_address(std::string_view address);

/// "host:port", bracketing IPv6 literals.
std::string format_address(const std::string& host, std::uint16_t port);

} // namespace ferro::transport
