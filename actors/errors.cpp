#include "actors/errors.hpp"

#include <caf/atom.hpp>
#include <caf/make_message.hpp>
#include <caf/sec.hpp>
#include <caf/to_string.hpp>

namespace ferro {

namespace {

constexpr caf::atom_value category = caf::atom("ferro");

} // namespace

caf::error to_caf_error(errc code, std::string message) {
  return caf::error{wire_code(code), category, caf::make_message(std::move(message))};
}

caf::error to_caf_error(const error& e) {
  return to_caf_error(e.code, e.message);
}

error from_caf_error(const caf::error& e) {
  if (e.category() == category) {
    std::string message;
    if (e.context().match_elements<std::string>())
      message = e.context().get_as<std::string>(0);
    return error{errc_from_wire(e.code()), std::move(message)};
  }
  if (e == caf::sec::request_timeout)
    return error{errc::unavailable, "the node did not answer in time"};
  if (e == caf::sec::request_receiver_down)
    return error{errc::unavailable, "the node is shutting down"};
  return error{errc::internal, caf::to_string(e)};
}

} // namespace ferro
