/* The functions the C edge (mod_polyprov.c) takes from the C++ glue. Every
 * one of them is noexcept on the C++ side: no exception reaches httpd. */
#ifndef POLYPROV_EDGE_H
#define POLYPROV_EDGE_H

#include "httpd.h"
#include "http_config.h"

#ifdef __cplusplus
extern "C" {
#endif

void *polyprov_create_server_config(apr_pool_t *p, server_rec *s);
void *polyprov_merge_server_config(apr_pool_t *p, void *base, void *add);

void *polyprov_create_dir_config(apr_pool_t *p, char *dir);
void *polyprov_merge_dir_config(apr_pool_t *p, void *base, void *add);

const char *polyprov_set_require_device(cmd_parms *cmd, void *dir, int flag);
const char *polyprov_set_match_uri(cmd_parms *cmd, void *dir, int flag);
const char *polyprov_set_acl_file(cmd_parms *cmd, void *dir, const char *path);
const char *polyprov_set_acl_query(cmd_parms *cmd, void *dir, const char *sql);
const char *polyprov_set_acl_refresh(cmd_parms *cmd, void *dir, const char *duration);
const char *polyprov_set_mac_pattern(cmd_parms *cmd, void *dir, const char *regex);
const char *polyprov_set_cn_pattern(cmd_parms *cmd, void *dir, const char *regex);

const char *polyprov_set_upload(cmd_parms *cmd, void *dir, int flag);
const char *polyprov_set_upload_max_size(cmd_parms *cmd, void *dir, const char *size);
const char *polyprov_set_upload_keep(cmd_parms *cmd, void *dir, const char *count);
const char *polyprov_set_allow_methods(cmd_parms *cmd, void *dir, const char *method);
const char *polyprov_set_shared_files(cmd_parms *cmd, void *dir, const char *glob);

const char *polyprov_set_accept_expired(cmd_parms *cmd, void *dir, const char *mode);
const char *polyprov_set_trust_anchor_file(cmd_parms *cmd, void *dir, const char *path);
const char *polyprov_set_revocation_history(cmd_parms *cmd, void *dir, const char *path);

const char *polyprov_set_fleet(cmd_parms *cmd, void *dir, const char *provider);
const char *polyprov_set_fleet_expire(cmd_parms *cmd, void *dir, const char *duration);

void polyprov_register_hooks(apr_pool_t *p);

#ifdef __cplusplus
}
#endif

#endif
