// The device behind a request, by the core's one authentication rule, and
// the environment variables that name it.
#pragma once

#include "httpd.h"

#include <memory>

#include <polyprov/acl.hpp>
#include <polyprov/authentication.hpp>

#include "connection_state.hpp"
#include "dir_config.hpp"
#include "module_env.hpp"

namespace polyprov::glue {

struct RequestIdentity {
    std::shared_ptr<const CertificateFacts> cert;   // null: no client certificate
    std::shared_ptr<const Acl> acl;                 // the directory's list as it is now; null: none
    bool acl_unavailable = false;                   // a list is configured but cannot be read: fail closed
    Authentication auth;
};

// Authenticates the request's certificate against `conf`'s CN pattern and
// list. When the list cannot be read, no device is authenticated.
RequestIdentity identify(request_rec* r, const DirConfig* conf);

// The same where the request is read, before any <Directory> is known:
// with the virtual host's own CN pattern and list, and the pins of every
// list its sections name (a MAC pinned to another certificate anywhere in
// the host is never named); membership of a list that only a section
// names is left to the access check there.
RequestIdentity identify_early(request_rec* r);

// POLYPROV_MAC and POLYPROV_LABEL for an authenticated device only (unset
// otherwise, also when an earlier hook set them with other settings), and
// POLYPROV_CLAIMED_MAC whenever the CN claims one.
// `env` is r->subprocess_env as read by the caller.
void set_identity_env(request_rec* r, const Authentication& auth, ModuleEnv& env);

}  // namespace polyprov::glue
