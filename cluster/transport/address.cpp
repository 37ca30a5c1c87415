#include "cluster/transport/address.hpp"

#include <charconv>

namespace ferro::transport {

result<host_port> parse_address(std::string_view address) {
  auto bad = [&](const char* why) {
    return error{errc::bad_request, "address '" + std::string(address) + "': " + why};
  };
  auto colon = address.rfind(':');
  if (colon == std::string_view::npos || colon == 0)
    return bad("expected host:port");
  auto host = address.substr(0, colon);
  auto port_text = address.substr(colon + 1);
  if (host.front() == '[') {
    if (host.size() < 3 || host.back() != ']')
      return bad("unbalanced brackets");
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != std::string_view::npos) {
    return bad("IPv6 hosts need brackets");
  }
  unsigned port = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || end != port_text.data() + port_text.size() || port == 0 || port > 65535)
    return bad("port must be 1..65535");
  return host_port{std::string(host), static_cast<std::uint16_t>(port)};
}

std::string format_address(const std::string& host, std::uint16_t port) {
  if (host.find(':') != std::string::npos)
    return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

} // namespace ferro::transport
