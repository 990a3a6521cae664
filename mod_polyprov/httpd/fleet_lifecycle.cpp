// The fleet view's part of httpd's start, restart and child processes:
// the mutex type (pre_config), the directives' consistency (check_config,
// so apache2ctl -t says it), the caches, shared counters and node name
// (post_config), and each process's mutex and updater (child_init).

#include "glue.hpp"
#include "hooks.hpp"

#include "ap_listen.h"
#include "ap_mpm.h"
#include "apr_shm.h"
#include "http_core.h"
#include "http_main.h"
#include "unixd.h"
#include "util_mutex.h"

#include <new>
#include <string>

#include "fleet_carry_over.hpp"
#include "fleet_config.hpp"
#include "fleet_socache.hpp"
#include "fleet_updater.hpp"

namespace polyprov::glue {
namespace {

constexpr const char* kMutexType = "polyprov-fleet";
constexpr const char* kCacheName = "polyprov-fleet";  // socache allows 16 characters, memcache 15 with ':'

FleetConfig* g_serving = nullptr;  // the configuration generation the processes serve

apr_status_t forget_serving(void*) {
    g_serving = nullptr;
    return APR_SUCCESS;
}

apr_status_t destroy_store(void* data) {
    auto* store = static_cast<FleetStore*>(data);
    if (store->instance) store->provider->destroy(store->instance, store->server);
    store->instance = nullptr;
    return APR_SUCCESS;
}

// hostname:port, port of the first Listen: two servers on one machine are
// two nodes, one server keeps its name across restarts.
std::string node_name(apr_pool_t* p) {
    char host[APRMAXHOSTLEN + 1] = "";
    if (apr_gethostname(host, sizeof host, p) != APR_SUCCESS || !*host) apr_cpystrn(host, "localhost", sizeof host);
    std::string name = host;
    if (ap_listeners && ap_listeners->bind_addr) name += ":" + std::to_string(ap_listeners->bind_addr->port);
    return name;
}

// A full index shard (a MAC, a time and a flag per entry), the largest
// entry the fleet writes.
constexpr std::size_t kLargestEntry = 16 + kShardCapacity * 12;

// shmcb refuses an entry larger than one of its subcaches: find out now
// rather than with the first full index shard.
bool roomy_enough(FleetConfig& config, FleetStore& store, server_rec* s, apr_pool_t* ptemp) {
    SocacheFleetCache cache(store, config.mutex, s, ptemp);
    const std::string probe_key = "polyprov-fleet-size-check";
    const bool ok = cache.put(probe_key, std::string(kLargestEntry, 'x'), apr_time_sec(apr_time_now()) + 60);
    store.provider->remove(store.instance, s, reinterpret_cast<const unsigned char*>(probe_key.data()),
                           static_cast<unsigned int>(probe_key.size()), ptemp);
    return ok;
}

bool set_up_store(FleetConfig& config, FleetStore& store, server_rec* s, apr_pool_t* pconf, apr_pool_t* ptemp) {
    // What the entries are like: a device's record is about 200 bytes
    // under an id of 19, the summary, manifest parts and most index shards
    // under 100. shmcb gives each subcache one index slot per id and
    // object of these sizes; every rewrite takes a slot until its ring
    // comes round, so the figure is kept low: with the records' size it ran
    // out of slots with much of its memory unused.
    static const ap_socache_hints hints = {20, 100, apr_time_from_sec(600)};
    const apr_status_t rv = store.provider->init(store.instance, kCacheName, &hints, s, pconf);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_EMERG, rv, s,
                     PP_TAG(503) "PolyProvFleet %s (%s): the cache cannot be set up", store.spec.c_str(), store.where);
        return false;
    }
    store.server = s;
    apr_pool_cleanup_register(pconf, &store, &destroy_store, apr_pool_cleanup_null);
    if (store.provider_name != "shmcb") return true;
    if (!roomy_enough(config, store, s, ptemp)) {
        ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_EMERG, 0, s,
                     PP_TAG(504) "PolyProvFleet %s (%s): too small for the fleet's entries (13 KiB each at most); "
                     "give shmcb more memory, about 1 KiB per device and at least 2 MiB, e.g. "
                     "shmcb:fleet(104857600) for 100,000 devices",
                     store.spec.c_str(), store.where);
        return false;
    }
    if (const std::size_t n = restore_carried_over(config, store, s, ptemp))
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, PP_TAG(531) "fleet view: %" APR_SIZE_T_FMT " entries of %s kept across the restart", n,
                     store.spec.c_str());
    carry_over_at_restart(config, store, s, pconf);
    return true;
}

// fcntl() locks belong to a process, and the kernel refuses one (EDEADLK)
// when it sees processes waiting on each other's locks in a cycle. Under
// prefork a child's main thread holds the accept mutex while its updater
// thread waits for this one: with both fcntl() locks (Debian's apache2.conf
// says `Mutex file:${APACHE_LOCK_DIR} default`), a cycle that is none the
// kernel sees, and it may answer another child's accept mutex with
// EDEADLK, which stops Apache (AH00144, seen in the fleet's scale test).
// flock() locks make no such check: the same lock file's directory, flock().
apr_status_t no_fcntl(apr_global_mutex_t*& mutex, server_rec* s, apr_pool_t* pconf) {
    if (apr_global_mutex_mech(mutex) != APR_LOCK_FCNTL) return APR_SUCCESS;
    const char* file = apr_global_mutex_lockfile(mutex);
    const char* path = apr_pstrcat(pconf, file ? file : ap_runtime_dir_relative(pconf, kMutexType), ".flock", nullptr);
    apr_global_mutex_t* replacement = nullptr;
    apr_status_t rv = apr_global_mutex_create(&replacement, path, APR_LOCK_FLOCK, pconf);
    if (rv != APR_SUCCESS) return rv;
    rv = ap_unixd_set_global_mutex_perms(replacement);
    if (rv != APR_SUCCESS) return rv;
    apr_global_mutex_destroy(mutex);
    mutex = replacement;
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, s,
                 PP_TAG(506) "fleet view: the %s mutex uses flock() on %s rather than the fcntl() the Mutex "
                 "directive gives: its background threads and fcntl()'s deadlock check do not mix",
                 kMutexType, path);
    return APR_SUCCESS;
}

// One mutex for the server's life, not one a generation: after a graceful
// restart, old children finishing their requests still flush, and their
// writes must wait for the new generation's as for each other's (a count
// written between another writer's reading and writing it is the stale
// count the lock exists to prevent). Kept in the process pool, which
// restarts leave, under a name, since the module itself is unloaded and
// loaded again; its cleanups are APR's, none of this module's.
apr_status_t server_mutex(apr_global_mutex_t*& mutex, server_rec* s) {
    constexpr const char* kKey = "polyprov-fleet-mutex";
    apr_pool_t* process = s->process->pool;
    void* kept = nullptr;
    apr_pool_userdata_get(&kept, kKey, process);
    if (kept) {
        mutex = static_cast<apr_global_mutex_t*>(kept);
        return APR_SUCCESS;
    }
    apr_status_t rv = ap_global_mutex_create(&mutex, nullptr, kMutexType, nullptr, s, process, 0);
    if (rv == APR_SUCCESS) rv = no_fcntl(mutex, s, process);
    if (rv == APR_SUCCESS) rv = apr_pool_userdata_set(mutex, kKey, nullptr, process);
    return rv;
}

}  // namespace

FleetConfig* serving_fleet() noexcept { return g_serving; }

int register_fleet_mutex(apr_pool_t* pconf, apr_pool_t* plog, apr_pool_t*) noexcept {
    const apr_status_t rv = ap_mutex_register(pconf, kMutexType, nullptr, APR_LOCK_DEFAULT, 0);
    if (rv == APR_SUCCESS) return OK;
    ap_log_perror(APLOG_MARK, APLOG_CRIT, rv, plog, PP_TAG(503) "cannot register the %s mutex type", kMutexType);
    return 500;  // what httpd takes for "stop", as other modules do
}

int check_fleet_config(apr_pool_t* pconf, apr_pool_t*, apr_pool_t*, server_rec* s) noexcept {
    try {
        FleetConfig* config = FleetConfig::find(pconf);
        return !config || config->resolve(s) ? OK : !OK;
    } catch (...) {
        ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_EMERG, 0, s, PP_TAG(549) "fleet view: cannot check the configuration");
        return !OK;
    }
}

int start_fleet(apr_pool_t* pconf, apr_pool_t* plog, apr_pool_t* ptemp, server_rec* s) noexcept {
    g_serving = nullptr;
    // httpd reads the configuration twice at start-up; the first pass only checks it.
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG) return OK;
    try {
        FleetConfig* config = FleetConfig::find(pconf);
        if (!config || !config->any_used()) return OK;
        config->node = node_name(ptemp);

        apr_status_t rv = server_mutex(config->mutex, s);
        if (rv != APR_SUCCESS) {
            ap_log_perror(APLOG_MARK, APLOG_CRIT, rv, plog, PP_TAG(503) "fleet view: cannot create the %s mutex", kMutexType);
            return 500;
        }
        // Counters every process of this generation shares (anonymous
        // shared memory, inherited by the children).
        apr_shm_t* shm = nullptr;
        const std::size_t n = config->stores().size();
        rv = apr_shm_create(&shm, n * sizeof(FleetSharedState), nullptr, pconf);
        if (rv != APR_SUCCESS) {
            ap_log_perror(APLOG_MARK, APLOG_CRIT, rv, plog, PP_TAG(503) "fleet view: cannot allocate its shared counters");
            return 500;
        }
        static_assert(std::atomic<std::int64_t>::is_always_lock_free, "counters shared between processes");
        auto* shared = static_cast<FleetSharedState*>(apr_shm_baseaddr_get(shm));
        for (std::size_t i = 0; i < n; ++i) new (&shared[i]) FleetSharedState;
        config->shared = shared;

        for (const auto& store : config->stores()) {
            if (!store->used) continue;
            if (!set_up_store(*config, *store, s, pconf, ptemp)) return 500;
            ap_log_error(APLOG_MARK, APLOG_INFO, 0, s,
                         PP_TAG(505) "fleet view: node %s records into %s, entries kept %" APR_INT64_T_FMT " s",
                         config->node.c_str(), store->spec.c_str(), static_cast<apr_int64_t>(store->expire));
        }
        g_serving = config;
        apr_pool_cleanup_register(pconf, nullptr, &forget_serving, apr_pool_cleanup_null);
        return OK;
    } catch (const std::exception& e) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, PP_TAG(549) "fleet view: cannot start: %s", e.what());
    } catch (...) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, PP_TAG(549) "fleet view: cannot start");
    }
    return 500;
}

void start_fleet_child(apr_pool_t* pchild, server_rec* s) noexcept {
    FleetConfig* config = g_serving;
    if (!config) return;
    const apr_status_t rv = apr_global_mutex_child_init(&config->mutex, apr_global_mutex_lockfile(config->mutex), pchild);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s,
                     PP_TAG(540) "fleet view: cannot attach to its mutex, this process records nothing");
        return;
    }
    FleetUpdater::start(*config, s, pchild);
}

}  // namespace polyprov::glue
