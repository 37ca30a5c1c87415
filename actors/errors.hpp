#pragma once

#include <caf/error.hpp>

#include "common/status.hpp"

namespace ferro {

/// Carries a ferro::error through CAF (response promises, request handlers).
caf::error to_caf_error(const error& e);
caf::error to_caf_error(errc code, std::string message);

/// The reverse; CAF's own errors (timeouts, dead actors) map to errc too.
error from_caf_error(const caf::error& e);

} // namespace ferro
