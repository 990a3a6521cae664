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
                  "PolyProvTrustAnchorFile"),
    AP_INIT_TAKE1("PolyProvTrustAnchorFile", polyprov_set_trust_anchor_file, NULL, RSRC_CONF,
                  "PEM file of the root CA certificate(s) whose chains PolyProvAcceptExpired "
                  "may accept when expired"),
    { NULL, { NULL }, NULL, 0, RAW_ARGS, NULL }  /* end of table */
};

AP_DECLARE_MODULE(polyprov) = {
    STANDARD20_MODULE_STUFF,
    NULL,                           /* per-directory config: later */
    NULL,
    polyprov_create_server_config,
    polyprov_merge_server_config,
    polyprov_directives,
    polyprov_register_hooks,
    AP_MODULE_FLAG_NONE
};
