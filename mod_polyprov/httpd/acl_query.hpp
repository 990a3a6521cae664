// PolyProvACLQuery: an allow-list that is the result of an SQL query on the
// operator's database, run by the file watcher (shared_files.hpp) on a
// thread of its own at PolyProvACLRefresh's interval, never per request,
// and published to every process as a file's new version is.
//
// Through APR's DBD layer directly, with mod_dbd's DBDriver and DBDParams:
// mod_dbd cannot serve the watcher. Its connection pools are made in its
// child_init, which runs in httpd's children and not in a process the
// parent forks itself, so ap_dbd_open fails there under DBDPersist on
// (the default); and it logs every failed connection, where an outage
// here is said once.
#pragma once

#include "httpd.h"
#include "http_config.h"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

#include <polyprov/acl_file.hpp>

#include "../apr/dbd_rows.hpp"

namespace polyprov::glue {

struct AclQuery {
    dbd::Source source;
    std::string name;                       // "PolyProvACLQuery at FILE:LINE", for messages
    std::chrono::seconds interval{30};
    bool interval_set = false;              // by a PolyProvACLRefresh
    std::atomic<bool> has_list{false};      // a version is in force (carried over a restart, or published)
    AclFile* list = nullptr;                // owned by the configuration's registry
    // The run under way: when it began (steady-clock ticks; 0: none), and
    // the run whose lateness was said (by when it began).
    std::atomic<std::int64_t> run_began{0};
    std::atomic<std::int64_t> late_said_for{0};
};

// DBDriver and DBDParams as mod_dbd applies them to the server `cmd` is
// configuring: written in its <VirtualHost>, else at the top level. Null
// with `error` set when either is missing or the driver is not installed.
const char* dbd_source_for(cmd_parms* cmd, const char* sql, dbd::Source* source);

// The watcher's side: runs `query` now and then at its interval, on a
// thread of its own, until the process ends. False when no thread can be had.
bool follow_acl_query(server_rec* s, AclQuery* query) noexcept;

// The watcher's main loop, at each look: says once when a run has taken
// far longer than its interval (a database that holds a lock, a network
// that swallows packets), since the run itself cannot say anything until
// it returns.
void report_late_run(server_rec* s, AclQuery& query) noexcept;

}  // namespace polyprov::glue
