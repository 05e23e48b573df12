// The one error type of the native kernels.
#pragma once

#include <stdexcept>

namespace sl {

/** A bad argument or an unreadable file: the binding turns it into a JS Error with this message. */
struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace sl
