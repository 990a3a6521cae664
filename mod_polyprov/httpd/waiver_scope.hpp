// A certificate accepted only because an expiry was waived is served only
// by a virtual host that would have accepted it itself: its own expiry
// waiver covers what the handshake waived, and its own revocation history
// does not list a certificate whose expiry was waived.
#pragma once

#include "httpd.h"

#include "module_env.hpp"

namespace polyprov::glue {

// OK, or 421 (HTTP_MISDIRECTED_REQUEST), or 500 when it cannot tell.
// Checked once per certificate and request: where the request was read,
// and again in fixups, because mod_ssl may ask for a certificate only in
// its access checker (per-directory SSLVerifyClient), after the request
// was read. Sets POLYPROV_CERT_EXPIRED for the request's own host, through
// `env` when the caller has read the table, else reading it when needed.
int check_waiver_scope(request_rec* r, ModuleEnv* env = nullptr);

}  // namespace polyprov::glue
