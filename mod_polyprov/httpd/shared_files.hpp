// The files every process of a server follows together (shared_file.hpp):
// one object per file and configuration generation, a published number
// for each in shared memory, and the watcher process that looks at them.
#pragma once

#include "httpd.h"
#include "http_config.h"

#include <polyprov/acl_file.hpp>
#include <polyprov/revoked_set.hpp>

#include "../apr/dbd_rows.hpp"

namespace polyprov::glue {

using HistoryFile = SharedFile<RevokedSet>;

// The ACL file at `path` for this configuration, loaded now (throws Error
// with file:line). Several directories naming one file share one object.
AclFile* shared_acl_file(cmd_parms* cmd, const char* path);

struct AclQuery;

// The list PolyProvACLQuery `source` makes (acl_query.hpp), named `name` in
// messages. Sections naming the same query on the same database share it.
// After a graceful restart it starts from the version in force before.
AclQuery* shared_acl_query(cmd_parms* cmd, dbd::Source source, std::string name);

// The revocation history at `path` (PolyProvRevocationHistory), likewise.
HistoryFile* shared_history_file(cmd_parms* cmd, const char* path);

// post_config: shared memory for the published numbers, the snapshot
// directory, and the watcher process (not in the first, trial pass).
int start_file_watcher(apr_pool_t* pconf, apr_pool_t* plog, apr_pool_t* ptemp, server_rec* s) noexcept;

// The parent's monitor hook: restarts a watcher that is missing or has
// stopped looking at the files.
int watch_the_watcher(apr_pool_t* p, server_rec* s) noexcept;

// False when the watcher has not looked at the files for a while: the
// lists in force may be missing a change, so callers fail closed. Says so
// once per process (PP209).
bool files_followed(const server_rec* s) noexcept;

}  // namespace polyprov::glue
