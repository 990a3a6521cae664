// The watcher is a process of its own, forked by httpd's parent like
// mod_cgid's daemon: httpd's parent must stay single-threaded (it forks
// children), its monitor hook runs only about every ten seconds, and no
// serving process should look at the files (a stat per request) or decide
// alone when a new version counts (each would log, and each would keep its
// own idea of the last good list).

#include "shared_files.hpp"

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

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

namespace polyprov::glue {
namespace {

constexpr const char* kRegistryKey = "polyprov-shared-files";
constexpr apr_interval_time_t kLookInterval = apr_time_from_msec(500);
constexpr int kWatcherCannotStart = 3;   // exit status: do not restart

// Every shared file of one configuration generation (pconf), one object
// per kind and path.
struct Registry {
    std::vector<std::unique_ptr<SharedFileBase>> files;
    std::map<std::string, SharedFileBase*> by_key;

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
    return std::make_unique<HistoryFile>(path, &RevocationHistory::parse, [](const RevocationHistory& history) {
        return std::to_string(history.size()) + " revoked certificates";
    });
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

// What the parent needs to restart a watcher that died.
struct WatcherSite {
    apr_pool_t* pconf;
    server_rec* server;
    Registry* files;
    apr_proc_t proc;
    pid_t parent;
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
    ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, site->server,
                 PP_TAG(204) "file watcher started (pid %" APR_PID_T_FMT "), %" APR_SIZE_T_FMT " file(s)", ::getpid(),
                 site->files->files.size());
    while (!g_stop && ::getppid() == site->parent) {
        for (const auto& file : site->files->files) {
            try {
                WatchEvent e = file->watch();
                if (e.kind == WatchEvent::Kind::published) e.message = file->path() + ": " + e.message;
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
    return true;
}

void watcher_maintenance(int reason, void* data, apr_wait_t status) {
    auto* site = static_cast<WatcherSite*>(data);
    switch (reason) {
    case APR_OC_REASON_DEATH:
    case APR_OC_REASON_LOST: {
        apr_proc_other_child_unregister(data);
        int state = AP_MPMQ_STOPPING;
        if (ap_mpm_query(AP_MPMQ_MPM_STATE, &state) != APR_SUCCESS || state == AP_MPMQ_STOPPING) return;
        if (reason == APR_OC_REASON_DEATH && WIFEXITED(status) && WEXITSTATUS(status) == kWatcherCannotStart) return;
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, site->server, PP_TAG(205) "file watcher died; restarting it");
        fork_watcher(site);
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

// Snapshots are named <dir>/c<config generation>-<index>.<published number>;
// those of generations before the previous one are no longer read by anyone.
void remove_old_snapshots(const std::string& dir, int generation) {
    DIR* d = ::opendir(dir.c_str());
    if (!d) return;
    while (const dirent* e = ::readdir(d)) {
        int gen = 0;
        if (std::sscanf(e->d_name, "c%d-", &gen) == 1 && gen < generation - 1)
            ::unlinkat(::dirfd(d), e->d_name, 0);
    }
    ::closedir(d);
}

// The directory snapshots go to: the watcher writes it after dropping
// privileges, the children read it; nobody else needs to.
const char* snapshot_directory(apr_pool_t* pconf, server_rec* s) {
    const char* dir = ap_runtime_dir_relative(pconf, "polyprov");
    if (::mkdir(dir, 0700) != 0 && errno != EEXIST) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, errno, s, PP_TAG(908) "cannot create %s", dir);
        return nullptr;
    }
    struct stat st {};
    if (::lstat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, PP_TAG(908) "%s is not a directory", dir);
        return nullptr;
    }
    if (::geteuid() == 0 &&
        (::chown(dir, ap_unixd_config.user_id, ap_unixd_config.group_id) != 0 || ::chmod(dir, 0700) != 0)) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, errno, s, PP_TAG(908) "cannot hand %s to the server's User", dir);
        return nullptr;
    }
    return dir;
}

}  // namespace

AclFile* shared_acl_file(cmd_parms* cmd, const char* path) {
    return registry(cmd->pool, true)->get(std::string("acl:") + path, &open_acl, path);
}

HistoryFile* shared_history_file(cmd_parms* cmd, const char* path) {
    return registry(cmd->pool, true)->get(std::string("history:") + path, &open_history, path);
}

int start_file_watcher(apr_pool_t* pconf, apr_pool_t*, apr_pool_t*, server_rec* s) noexcept {
    try {
        // The first pass only checks the configuration; the second is the server.
        if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG) return OK;
        Registry* files = registry(pconf, false);
        if (!files || files->files.empty()) return OK;

        apr_shm_t* shm = nullptr;
        const apr_size_t size = files->files.size() * sizeof(SharedFileBase::Generation);
        apr_status_t rv = apr_shm_create(&shm, size, nullptr, pconf);
        if (rv != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s, PP_TAG(908) "cannot create shared memory for the followed files");
            return !OK;
        }
        const char* dir = snapshot_directory(pconf, s);
        if (!dir) return !OK;
        const int generation = ap_state_query(AP_SQ_CONFIG_GEN);
        remove_old_snapshots(dir, generation);

        auto* slots = static_cast<SharedFileBase::Generation*>(apr_shm_baseaddr_get(shm));
        for (std::size_t i = 0; i < files->files.size(); ++i) {
            auto* slot = new (slots + i) SharedFileBase::Generation(0);
            files->files[i]->attach(slot, std::string(dir) + "/c" + std::to_string(generation) + "-" + std::to_string(i));
        }

        g_site = static_cast<WatcherSite*>(apr_pcalloc(pconf, sizeof(WatcherSite)));
        g_site->pconf = pconf;
        g_site->server = s;
        g_site->files = files;
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
