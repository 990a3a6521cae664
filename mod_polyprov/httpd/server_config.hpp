// Per-server (virtual host) configuration: what PolyProvAcceptExpired and
// PolyProvTrustAnchorFile said, merged down from the main server.
#pragma once

#include "httpd.h"
#include "http_config.h"

#include <vector>

#include <polyprov/acl.hpp>
#include <polyprov/expiry_waiver.hpp>
#include <polyprov/revoked_set.hpp>
#include <polyprov/shared_file.hpp>
#include <polyprov/trust_anchors.hpp>

namespace polyprov::glue {

struct ServerConfig {
    bool accept_expired_set;
    ExpiryMode accept_expired;
    const char* accept_expired_where;   // "file:line" of the directive, for errors
    const char* anchor_path;            // null when unset
    const TrustAnchors* anchors;        // loaded at config time, owned by the config pool
    SharedFile<RevokedSet>* history;   // PolyProvRevocationHistory; null when unset
    // The PolyProvACLFile of every section of this host (and of the main
    // server's sections): their pins bind before any section is matched.
    const std::vector<SharedFile<Acl>*>* section_acls;
};

ServerConfig* server_config(const server_rec* s);

// A PolyProvACLFile inside a section of cmd->server.
void note_section_acl(cmd_parms* cmd, SharedFile<Acl>* file);

}  // namespace polyprov::glue
