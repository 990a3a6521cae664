#include "fleet_config.hpp"

#include "edge.h"
#include "glue.hpp"

#include "ap_provider.h"
#include "http_log.h"

#include <cstring>

#include <polyprov/duration.hpp>

namespace polyprov::glue {
namespace {

constexpr const char* kUserdataKey = "polyprov-fleet-config";

const char* where(cmd_parms* cmd) {
    return apr_psprintf(cmd->pool, "%s:%d", cmd->directive->filename, cmd->directive->line_num);
}

std::string duration_text(std::int64_t seconds) {
    if (seconds % 86400 == 0) return std::to_string(seconds / 86400) + "d";
    if (seconds % 3600 == 0) return std::to_string(seconds / 3600) + "h";
    if (seconds % 60 == 0) return std::to_string(seconds / 60) + "m";
    return std::to_string(seconds) + "s";
}

}  // namespace

FleetConfig& FleetConfig::of(apr_pool_t* pconf) {
    if (FleetConfig* found = find(pconf)) return *found;
    auto* config = pool_owned(pconf, new FleetConfig);
    apr_pool_userdata_set(config, kUserdataKey, apr_pool_cleanup_null, pconf);
    return *config;
}

FleetConfig* FleetConfig::find(apr_pool_t* pconf) {
    void* data = nullptr;
    apr_pool_userdata_get(&data, kUserdataKey, pconf);
    return static_cast<FleetConfig*>(data);
}

FleetStore* FleetConfig::find_store(const std::string& spec) noexcept {
    for (const auto& s : stores_)
        if (s->spec == spec) return s.get();
    return nullptr;
}

FleetStore* FleetConfig::add_store(std::unique_ptr<FleetStore> store) {
    store->slot = stores_.size();
    stores_.push_back(std::move(store));
    return stores_.back().get();
}

bool FleetConfig::any_used() const noexcept {
    for (const auto& s : stores_)
        if (s->used) return true;
    return false;
}

bool FleetConfig::resolve(server_rec* main_server) {
    bool ok = true;
    resolved_.clear();
    const FleetServerSettings main = settings_[main_server];
    for (server_rec* s = main_server; s; s = s->next) {
        const FleetServerSettings own = settings_[s];
        FleetStore* store = own.store_set ? own.store : main.store;
        if (!store) continue;
        const std::int64_t expire = own.expire ? own.expire : main.expire ? main.expire : kDefaultFleetExpire;
        const char* expire_where = own.expire ? own.expire_where : main.expire_where;
        if (store->used && store->expire != expire) {
            ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_EMERG, 0, s,
                         PP_TAG(502) "PolyProvFleet %s (%s) is given two expiry times, %s (%s) and %s (%s): "
                         "virtual hosts that share one fleet cache must agree on PolyProvFleetExpire",
                         store->spec.c_str(), store->where, duration_text(store->expire).c_str(),
                         store->expire_where ? store->expire_where : "the default", duration_text(expire).c_str(),
                         expire_where ? expire_where : "the default");
            ok = false;
            continue;
        }
        store->used = true;
        store->expire = expire;
        store->expire_where = expire_where;
        resolved_[s] = store;
    }
    for (const auto& store : stores_) {
        if (store->used && store->provider_name == "memcache" && store->expire > kMemcacheMaxExpire) {
            ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_EMERG, 0, main_server,
                         PP_TAG(501) "PolyProvFleetExpire %s (%s) is longer than memcached keeps an entry (30 days) "
                         "for PolyProvFleet %s (%s): use 30d or less, or redis",
                         duration_text(store->expire).c_str(), store->expire_where ? store->expire_where : "",
                         store->spec.c_str(), store->where);
            ok = false;
        }
    }
    return ok;
}

}  // namespace polyprov::glue

using polyprov::glue::FleetConfig;
using polyprov::glue::FleetStore;

extern "C" const char* polyprov_set_fleet(cmd_parms* cmd, void*, const char* arg) {
    try {
        FleetConfig& config = FleetConfig::of(cmd->pool);
        auto& settings = config.settings(cmd->server);
        if (settings.store_set)
            return apr_psprintf(cmd->pool, "%s: given twice for this server", cmd->cmd->name);
        settings.store_set = true;
        if (strcasecmp(arg, "none") == 0) return nullptr;

        if (FleetStore* existing = config.find_store(arg)) {
            settings.store = existing;
            return nullptr;
        }
        const char* colon = std::strchr(arg, ':');
        const char* name = colon ? apr_pstrmemdup(cmd->temp_pool, arg, static_cast<apr_size_t>(colon - arg)) : arg;
        const char* args = colon ? colon + 1 : nullptr;
        const auto* provider = static_cast<const ap_socache_provider_t*>(
            ap_lookup_provider(AP_SOCACHE_PROVIDER_GROUP, name, AP_SOCACHE_PROVIDER_VERSION));
        if (!provider)
            return apr_psprintf(cmd->pool,
                                "%s: '%s' is no socache provider: load its module before this line "
                                "(LoadModule socache_%s_module; shmcb, memcache and redis come with Apache), "
                                "or say none",
                                cmd->cmd->name, name, name);
        auto store = std::make_unique<FleetStore>();
        store->spec = arg;
        store->provider_name = name;
        store->provider = provider;
        store->needs_lock = (provider->flags & AP_SOCACHE_FLAG_NOTMPSAFE) != 0;
        store->ring = store->provider_name == "shmcb";
        store->where = polyprov::glue::where(cmd);
        if (const char* error = provider->create(&store->instance, args, cmd->temp_pool, cmd->pool))
            return apr_psprintf(cmd->pool, "%s %s: %s", cmd->cmd->name, arg, error);
        settings.store = config.add_store(std::move(store));
        return nullptr;
    } catch (const std::exception& e) {
        return apr_psprintf(cmd->pool, "%s: %s", cmd->cmd->name, e.what());
    } catch (...) {
        return apr_psprintf(cmd->pool, "%s: unexpected error", cmd->cmd->name);
    }
}

extern "C" const char* polyprov_set_fleet_expire(cmd_parms* cmd, void*, const char* arg) {
    try {
        const auto seconds = polyprov::parse_duration(arg);
        if (!seconds || *seconds < 60 || *seconds > 3650LL * 86400)
            return apr_psprintf(cmd->pool,
                                "%s: '%s' is not a duration from 1 minute to 3650 days: a whole number "
                                "followed by s, m, h, d or w (30d)",
                                cmd->cmd->name, arg);
        auto& settings = FleetConfig::of(cmd->pool).settings(cmd->server);
        settings.expire = *seconds;
        settings.expire_where = polyprov::glue::where(cmd);
        return nullptr;
    } catch (...) {
        return apr_psprintf(cmd->pool, "%s: unexpected error", cmd->cmd->name);
    }
}
