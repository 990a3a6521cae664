/* mod_polyprov: a provisioning server for Polycom/Poly phones.
 *
 * This file is the module's C edge: the module record and the directive
 * table, in C so that the table is type-checked without casts and so that
 * <IfModule mod_polyprov.c> works (httpd names a module after this file).
 * Everything else lives in httpd/ (glue) and core/ (policy). */

#include "httpd.h"
#include "http_config.h"

#include "httpd/edge.h"

static const command_rec polyprov_directives[] = {
    AP_INIT_TAKE1("PolyProvAcceptExpired", polyprov_set_accept_expired, NULL, RSRC_CONF,
                  "off | leaf | chain: accept a client certificate whose only fault is "
                  "that it (leaf) or also its CAs (chain) expired, when it chains to "
                  "PolyProvTrustAnchorFile; default: off"),
    AP_INIT_TAKE1("PolyProvTrustAnchorFile", polyprov_set_trust_anchor_file, NULL, RSRC_CONF,
                  "PEM file of the root CA certificate(s) whose chains PolyProvAcceptExpired "
                  "may accept when expired; default: none"),
    AP_INIT_TAKE1("PolyProvRevocationHistory", polyprov_set_revocation_history, NULL, RSRC_CONF,
                  "file of every certificate a CRL ever listed as revoked (polyprov fetch-crl --history): "
                  "their expiry is never waived; default: none"),
    AP_INIT_FLAG("PolyProvRequireDevice", polyprov_set_require_device, NULL, RSRC_CONF | ACCESS_CONF,
                 "On: only an authenticated phone (verified certificate, or a pinned one) "
                 "may fetch files here; default: off"),
    AP_INIT_TAKE1("PolyProvACLFile", polyprov_set_acl_file, NULL, RSRC_CONF | ACCESS_CONF,
                  "file of allowed devices: MAC [label=...] [sha256=FINGERPRINT], one a line; default: none"),
    AP_INIT_TAKE1("PolyProvACLQuery", polyprov_set_acl_query, NULL, RSRC_CONF | ACCESS_CONF,
                  "SQL query whose rows are the allowed devices (MAC [, label [, SHA-256 pin]]), on the "
                  "database of mod_dbd's DBDriver and DBDParams; instead of PolyProvACLFile; default: none"),
    AP_INIT_TAKE1("PolyProvACLRefresh", polyprov_set_acl_refresh, NULL, RSRC_CONF | ACCESS_CONF,
                  "how often the PolyProvACLQuery before it runs (s, m, h, d); default: 30s"),
    AP_INIT_FLAG("PolyProvMatchURI", polyprov_set_match_uri, NULL, RSRC_CONF | ACCESS_CONF,
                 "On: every MAC in the request path must be the phone's own or "
                 "000000000000; default: on"),
    AP_INIT_TAKE1("PolyProvMACPattern", polyprov_set_mac_pattern, NULL, RSRC_CONF | ACCESS_CONF,
                  "regular expression that finds MACs in request paths; default: runs of 12 or more hex digits"),
    AP_INIT_TAKE1("PolyProvCNPattern", polyprov_set_cn_pattern, NULL, RSRC_CONF | ACCESS_CONF,
                  "regular expression that finds the MAC in the certificate's CN; default: as PolyProvMACPattern"),
    AP_INIT_FLAG("PolyProvUpload", polyprov_set_upload, NULL, RSRC_CONF | ACCESS_CONF,
                 "On: phones may PUT files carrying their own MAC here (logs, overrides), "
                 "whole or appended with Content-Range; default: off"),
    AP_INIT_TAKE1("PolyProvUploadMaxSize", polyprov_set_upload_max_size, NULL, RSRC_CONF | ACCESS_CONF,
                  "largest size of an uploaded file (K, M, G: powers of 1024); an append past "
                  "it rotates the file; default: 10M"),
    AP_INIT_TAKE1("PolyProvUploadKeep", polyprov_set_upload_keep, NULL, RSRC_CONF | ACCESS_CONF,
                  "rotated generations kept (name.1 .. name.N); default: 5"),
    AP_INIT_ITERATE("PolyProvAllowMethods", polyprov_set_allow_methods, NULL, RSRC_CONF | ACCESS_CONF,
                    "methods besides GET, HEAD, OPTIONS and PUT that an authenticated device may use "
                    "here (decided by the path rule); everything else is refused; default: none"),
    AP_INIT_ITERATE("PolyProvSharedFiles", polyprov_set_shared_files, NULL, RSRC_CONF | ACCESS_CONF,
                    "globs of the names below this section that every device may read (* and ? within a "
                    "component, a trailing / for a whole directory); any other name that is no device's "
                    "own is refused; default: unset (every name no device owns is shared)"),
    AP_INIT_TAKE1("PolyProvFleet", polyprov_set_fleet, NULL, RSRC_CONF,
                  "provider[:args] | none: the socache (shmcb, memcache, redis) that keeps a record "
                  "per device for SetHandler polyprov-status; default: none"),
    AP_INIT_TAKE1("PolyProvFleetExpire", polyprov_set_fleet_expire, NULL, RSRC_CONF,
                  "how long a device's record is kept after it was last seen (s, m, h, d, w); default: 30d"),
    { NULL, { NULL }, NULL, 0, RAW_ARGS, NULL }  /* end of table */
};

AP_DECLARE_MODULE(polyprov) = {
    STANDARD20_MODULE_STUFF,
    polyprov_create_dir_config,
    polyprov_merge_dir_config,
    polyprov_create_server_config,
    polyprov_merge_server_config,
    polyprov_directives,
    polyprov_register_hooks,
    AP_MODULE_FLAG_NONE
};
