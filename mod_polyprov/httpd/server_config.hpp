// Per-server (virtual host) configuration: what PolyProvAcceptExpired and
// PolyProvTrustAnchorFile said, merged down from the main server.
#pragma once

#include "httpd.h"
#include "http_config.h"

#include <polyprov/expiry_waiver.hpp>
#include <polyprov/revocation_history.hpp>
#include <polyprov/shared_file.hpp>
#include <polyprov/trust_anchors.hpp>

namespace polyprov::glue {

struct ServerConfig {
    bool accept_expired_set;
    ExpiryMode accept_expired;
    const char* accept_expired_where;   // "file:line" of the directive, for errors
    const char* anchor_path;            // null when unset
    const TrustAnchors* anchors;        // loaded at config time, owned by the config pool
    SharedFile<RevocationHistory>* history;   // PolyProvRevocationHistory; null when unset
};

ServerConfig* server_config(const server_rec* s);

}  // namespace polyprov::glue
