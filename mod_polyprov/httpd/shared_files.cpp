// The watcher is a process of its own, forked by httpd's parent like
// mod_cgid's daemon: httpd's parent must stay single-threaded (it forks
// children), its monitor hook runs only about every ten seconds, and no
// serving process should look at the files (a stat per request) or decide
// alone when a new version counts (each would log, and each would keep its
// own idea of the last good list).

#include "shared_files.hpp"

#include "acl_query.hpp"
#include "glue.hpp"

#include "ap_listen.h"
#include "http_core.h"
#include "ap_mpm.h"
#include "http_log.h"
#include "mpm_common.h"
#include "unixd.h"
#include "apr_shm.h"
#include "apr_signal.h"
#include "apr_thread_proc.h"

#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <map>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include <malloc.h>
#include <unistd.h>

namespace polyprov::glue {
namespace {

constexpr const char* kRegistryKey = "polyprov-shared-files";
constexpr apr_interval_time_t kLookInterval = apr_time_from_msec(500);
constexpr int kWatcherCannotStart = 3;   // exit status: do not restart
// A watcher that has not looked for this long is killed (and restarted)
// by the parent's monitor hook, which runs about every ten seconds.
constexpr std::chrono::seconds kStalled{10};
// Serving processes stop trusting the lists when the watcher has not
// looked for this long: a removal from the ACL or an addition to the
// history might be waiting.
constexpr std::chrono::seconds kUntrusted{30};

// The watcher's heartbeat, in the shared memory: CLOCK_MONOTONIC in
// nanoseconds (the same clock in every process of the machine).
std::atomic<std::int64_t>* g_heartbeat = nullptr;

// `clock` in nanoseconds; false when it cannot be read.
bool monotonic_ns(clockid_t clock, std::int64_t* ns) noexcept {
    timespec now{};
    if (clock_gettime(clock, &now) != 0) return false;
    *ns = std::int64_t{now.tv_sec} * 1000000000 + now.tv_nsec;
    return true;
}

std::int64_t steady_now() {
    std::int64_t ns = 0;
    monotonic_ns(CLOCK_MONOTONIC, &ns);   // cannot fail on Linux; 0 would only look old (fail closed)
    return ns;
}

// The heartbeat's age as every request asks it. CLOCK_MONOTONIC_COARSE
// reads the same clock at the kernel's last tick (a few ms behind at
// most), without reading the hardware clock, which costs a request more
// than the rest of the check on a virtual machine (perf, bench/RESULTS.md).
// A few ms do not matter against kUntrusted. A clock that cannot be read
// makes the watcher look stalled: fail closed.
std::chrono::seconds heartbeat_age() {
    std::int64_t now = 0;
    if (!monotonic_ns(CLOCK_MONOTONIC_COARSE, &now)) return std::chrono::seconds::max();
    return std::chrono::duration_cast<std::chrono::seconds>(
        std::chrono::nanoseconds(now - g_heartbeat->load(std::memory_order_acquire)));
}

// Every shared file of one configuration generation (pconf), one object
// per kind and path.
struct Registry {
    std::vector<std::unique_ptr<SharedFileBase>> files;
    std::map<std::string, SharedFileBase*> by_key;
    std::vector<std::unique_ptr<AclQuery>> queries;
    std::map<std::string, AclQuery*> queries_by_key;

    template <typename File>
    File* get(const std::string& key, std::unique_ptr<File> (*open)(const std::string&), const std::string& path) {
        const auto found = by_key.find(key);
        if (found != by_key.end()) return static_cast<File*>(found->second);
        std::unique_ptr<File> file = open(path);
        File* raw = file.get();
        files.push_back(std::move(file));
        by_key.emplace(key, raw);
        return raw;
    }
};

std::unique_ptr<AclFile> open_acl(const std::string& path) { return open_acl_file(path); }

std::unique_ptr<HistoryFile> open_history(const std::string& path) {
    // Every process reads the watcher's one compiled table in place.
    return std::make_unique<HistoryFile>(
        path, &RevokedSet::parse, [](const RevokedSet& set) { return std::to_string(set.size()) + " revoked certificates"; },
        HistoryFile::Table{[](const RevokedSet& set) { return set.bytes(); }, &RevokedSet::from_table});
}

Registry* registry(apr_pool_t* pconf, bool create) {
    void* data = nullptr;
    apr_pool_userdata_get(&data, kRegistryKey, pconf);
    if (!data && create) {
        data = pool_owned(pconf, new Registry);
        apr_pool_userdata_setn(data, kRegistryKey, apr_pool_cleanup_null, pconf);
    }
    return static_cast<Registry*>(data);
}

// A query's list is known by its database and its text: the key a
// graceful restart finds the version in force under. (It holds DBDParams,
// which may hold a password: never logged.)
std::string query_key(const dbd::Source& source) {
    return source.driver + '\0' + source.params + '\0' + source.sql;
}

// The version each query's list had when the last configuration went, in
// httpd's parent: a graceful restart while the database is down keeps the
// phones served. Lives across configurations, so not in a pool.
std::map<std::string, std::shared_ptr<const Acl>>& carried_over() {
    static std::map<std::string, std::shared_ptr<const Acl>> lists;
    return lists;
}

// What the parent needs to restart a watcher that died.
struct WatcherSite {
    apr_pool_t* pconf;
    server_rec* server;
    Registry* files;
    SnapshotExchange* exchange;
    apr_proc_t proc;
    pid_t parent;
    bool running;          // a watcher process is registered
    bool cannot_start;     // it said it cannot drop privileges: no use restarting it
};
WatcherSite* g_site = nullptr;

volatile std::sig_atomic_t g_stop = 0;
void on_stop_signal(int) { g_stop = 1; }

void log_event(server_rec* s, const WatchEvent& e) {
    switch (e.kind) {
    case WatchEvent::Kind::none: return;
    case WatchEvent::Kind::published:
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, PP_TAG(202) "reloaded %s (generation %" APR_UINT64_T_FMT ")",
                     e.message.c_str(), static_cast<apr_uint64_t>(e.generation));
        return;
    case WatchEvent::Kind::refused:
    case WatchEvent::Kind::unreadable:
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s,
                     PP_TAG(203) "%s; every process keeps the last good version (generation %" APR_UINT64_T_FMT ")",
                     e.message.c_str(), static_cast<apr_uint64_t>(e.generation));
        return;
    }
}

[[noreturn]] void run_watcher(WatcherSite* site) {
    // Not an httpd child: it takes no connections and obeys only "stop".
    ap_close_listeners();
    apr_signal(SIGTERM, on_stop_signal);
    apr_signal(SIGHUP, on_stop_signal);
    apr_signal(SIGINT, on_stop_signal);
    apr_signal(AP_SIG_GRACEFUL, SIG_IGN);
    apr_signal(SIGWINCH, SIG_IGN);
    apr_signal(SIGPIPE, SIG_IGN);
    apr_pool_t* pool = nullptr;
    if (apr_pool_create(&pool, nullptr) != APR_SUCCESS || ap_run_drop_privileges(pool, site->server) != 0) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, site->server,
                     PP_TAG(206) "file watcher cannot drop privileges; files are no longer followed");
        _exit(kWatcherCannotStart);
    }
    try {
        site->exchange->answer_in_background();
    } catch (const std::exception& e) {   // no thread to be had (the User's process limit)
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, site->server,
                     PP_TAG(206) "file watcher cannot start its answering thread (%s); files are no longer followed",
                     e.what());
        _exit(kWatcherCannotStart);
    }
    // The lists the parent loaded are the children's; the watcher reads files.
    for (const auto& file : site->files->files) file->release_outdated(true);
    malloc_trim(0);
    for (const auto& query : site->files->queries) follow_acl_query(site->server, query.get());
    ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, site->server,
                 PP_TAG(204) "file watcher started (pid %" APR_PID_T_FMT "), %" APR_SIZE_T_FMT " file(s)", ::getpid(),
                 site->files->files.size());
    while (!g_stop && ::getppid() == site->parent) {
        g_heartbeat->store(steady_now(), std::memory_order_release);
        for (const auto& query : site->files->queries) report_late_run(site->server, *query);
        for (const auto& file : site->files->files) {
            try {
                WatchEvent e = file->watch();
                if (e.kind == WatchEvent::Kind::published) {
                    e.message = file->path() + ": " + e.message;
                    malloc_trim(0);   // what parsing a large list took goes back to the system
                }
                log_event(site->server, e);
            } catch (const std::exception& ex) {
                ap_log_error(APLOG_MARK, APLOG_ERR, 0, site->server, PP_TAG(906) "watching %s: %s",
                             file->path().c_str(), ex.what());
            }
        }
        apr_sleep(kLookInterval);   // a signal ends it early
    }
    _exit(0);
}

void watcher_maintenance(int reason, void* data, apr_wait_t status);

bool fork_watcher(WatcherSite* site) {
    site->proc = apr_proc_t{};
    const apr_status_t rv = apr_proc_fork(&site->proc, site->pconf);
    if (rv == APR_INCHILD) run_watcher(site);
    if (rv != APR_INPARENT) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, rv, site->server, PP_TAG(907) "cannot start the file watcher process");
        return false;
    }
    apr_pool_note_subprocess(site->pconf, &site->proc, APR_KILL_AFTER_TIMEOUT);
    apr_proc_other_child_register(&site->proc, watcher_maintenance, site, nullptr, site->pconf);
    site->running = true;
    return true;
}

void watcher_maintenance(int reason, void* data, apr_wait_t status) {
    auto* site = static_cast<WatcherSite*>(data);
    switch (reason) {
    case APR_OC_REASON_DEATH:
    case APR_OC_REASON_LOST: {
        apr_proc_other_child_unregister(data);
        site->running = false;
        int state = AP_MPMQ_STOPPING;
        if (ap_mpm_query(AP_MPMQ_MPM_STATE, &state) != APR_SUCCESS || state == AP_MPMQ_STOPPING) return;
        if (reason == APR_OC_REASON_DEATH && WIFEXITED(status) && WEXITSTATUS(status) == kWatcherCannotStart) {
            site->cannot_start = true;
            return;
        }
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, site->server, PP_TAG(205) "file watcher died; restarting it");
        site->exchange->collect();   // the new one inherits the versions in force
        fork_watcher(site);  // if this fails, the monitor hook tries again
        return;
    }
    case APR_OC_REASON_RESTART:
        apr_proc_other_child_unregister(data);  // the new generation starts its own
        return;
    case APR_OC_REASON_UNREGISTER:
        // The configuration pool is going: APR is unregistering us already
        // (unregistering again from here would recurse), and the pool's
        // subprocess note stops the watcher.
        return;
    default: return;
    }
}

}  // namespace

bool files_followed(const server_rec* s) noexcept {
    static std::atomic<bool> reported{false};
    if (!g_heartbeat || heartbeat_age() <= kUntrusted) {
        // Written only when it changes: a store on every request would
        // pull the line from core to core under load.
        if (reported.load(std::memory_order_relaxed)) reported.store(false, std::memory_order_relaxed);
        return true;
    }
    if (!reported.exchange(true))
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s,
                     PP_TAG(209) "the file watcher has not looked at the ACL and history files for %ld s: "
                     "denying devices and waiving no expiry until it does", static_cast<long>(heartbeat_age().count()));
    return false;
}

int watch_the_watcher(apr_pool_t*, server_rec* s) noexcept {
    WatcherSite* site = g_site;
    if (!site || !g_heartbeat) return DECLINED;
    // The versions the watcher published, kept here for a watcher forked
    // anew. The parent serves nothing: once a list has a newer version, the
    // copy it loaded at startup helps nobody (children forked from now on
    // take the published one).
    site->exchange->collect();
    for (const auto& file : site->files->files) file->release_outdated(false);
    if (site->cannot_start) return DECLINED;
    if (!site->running) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, PP_TAG(205) "no file watcher is running; starting one");
        fork_watcher(site);
        return DECLINED;
    }
    const auto age = heartbeat_age();
    if (age > kStalled) {
        // Stopped, or stuck on a file: SIGKILL reaches both, and its
        // death restarts it.
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s,
                     PP_TAG(205) "file watcher (pid %" APR_PID_T_FMT ") has not looked at the files for %ld s; "
                     "killing it to restart it", site->proc.pid, static_cast<long>(age.count()));
        ::kill(site->proc.pid, SIGKILL);
    }
    return DECLINED;
}

AclFile* shared_acl_file(cmd_parms* cmd, const char* path) {
    return registry(cmd->pool, true)->get(std::string("acl:") + path, &open_acl, path);
}

AclQuery* shared_acl_query(cmd_parms* cmd, dbd::Source source, std::string name) {
    Registry* files = registry(cmd->pool, true);
    const std::string key = query_key(source);
    if (const auto found = files->queries_by_key.find(key); found != files->queries_by_key.end()) return found->second;
    auto query = std::make_unique<AclQuery>();
    const auto carried = carried_over().find(key);
    std::shared_ptr<const Acl> initial = carried == carried_over().end() ? nullptr : carried->second;
    query->has_list = initial != nullptr;
    std::unique_ptr<AclFile> list = published_acl(name, std::move(initial));
    query->list = list.get();
    query->source = std::move(source);
    query->name = std::move(name);
    files->files.push_back(std::move(list));
    AclQuery* raw = query.get();
    files->queries.push_back(std::move(query));
    files->queries_by_key.emplace(key, raw);
    return raw;
}

HistoryFile* shared_history_file(cmd_parms* cmd, const char* path) {
    return registry(cmd->pool, true)->get(std::string("history:") + path, &open_history, path);
}

int start_file_watcher(apr_pool_t* pconf, apr_pool_t*, apr_pool_t*, server_rec* s) noexcept {
    try {
        // The first pass only checks the configuration; the second is the server.
        if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG) return OK;
        // This configuration's lists hold what they took from the last one.
        carried_over().clear();
        Registry* files = registry(pconf, false);
        if (!files || files->files.empty()) return OK;

        // The heartbeat, then one published slot per file.
        apr_shm_t* shm = nullptr;
        const apr_size_t size = sizeof(PublishedSlot) * (files->files.size() + 1);
        apr_status_t rv = apr_shm_create(&shm, size, nullptr, pconf);
        if (rv != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s, PP_TAG(908) "cannot create shared memory for the followed files");
            return !OK;
        }
        auto* exchange = pool_owned(pconf, new SnapshotExchange);

        auto* base = static_cast<PublishedSlot*>(apr_shm_baseaddr_get(shm));
        g_heartbeat = new (base) std::atomic<std::int64_t>(steady_now());
        // Gone with this configuration: a next one may follow no file.
        apr_pool_cleanup_register(pconf, nullptr, [](void*) -> apr_status_t {
            g_heartbeat = nullptr;
            g_site = nullptr;
            return APR_SUCCESS;
        }, apr_pool_cleanup_null);
        for (std::size_t i = 0; i < files->files.size(); ++i)
            files->files[i]->attach(new (base + 1 + i) PublishedSlot, exchange, static_cast<std::uint32_t>(i));
        // Each query's list as it stands when this configuration goes (run
        // before the shared memory and the exchange go: registered after).
        apr_pool_cleanup_register(pconf, files, [](void* data) -> apr_status_t {
            try {
                for (const auto& query : static_cast<Registry*>(data)->queries)
                    if (auto list = query->list->in_force()) carried_over()[query_key(query->source)] = std::move(list);
            } catch (...) {   // no memory: the next configuration starts those lists from nothing
            }
            return APR_SUCCESS;
        }, apr_pool_cleanup_null);

        g_site = static_cast<WatcherSite*>(apr_pcalloc(pconf, sizeof(WatcherSite)));
        g_site->pconf = pconf;
        g_site->server = s;
        g_site->files = files;
        g_site->exchange = exchange;
        // Reading the configuration twice parsed every list twice: give back
        // what that took before the children inherit it.
        malloc_trim(0);
        g_site->parent = ::getpid();
        return fork_watcher(g_site) ? OK : !OK;
    } catch (const std::exception& e) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, PP_TAG(908) "cannot start following the ACL and history files: %s", e.what());
    } catch (...) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, PP_TAG(908) "cannot start following the ACL and history files");
    }
    return !OK;
}

}  // namespace polyprov::glue
