// The environment variables that name the device on a request.
#pragma once

#include "httpd.h"

#include <polyprov/authentication.hpp>

#include "module_env.hpp"

namespace polyprov::glue {

// POLYPROV_MAC and POLYPROV_LABEL for an authenticated device only (unset
// otherwise, also when an earlier hook set them with other settings), and
// POLYPROV_CLAIMED_MAC whenever the CN claims one.
// `env` is r->subprocess_env as read by the caller.
void set_identity_env(request_rec* r, const Authentication& auth, ModuleEnv& env);

}  // namespace polyprov::glue
