#include "fleet_carry_over.hpp"

#include "glue.hpp"

#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>

#include "fleet_socache.hpp"

namespace polyprov::glue {
namespace {

// Kept in the process pool, which outlives configuration generations and
// the module's own code (the DSO is unloaded and loaded again): plain bytes
// from malloc, nothing that points into the module.
struct Carried {
    std::size_t size;
    char data[1];  // [u32 key length][key][u32 value length][value]...
};

std::string userdata_key(const FleetStore& store) { return "polyprov-fleet-carry:" + store.spec; }

struct Copy {
    FleetConfig* config;
    FleetStore* store;
    server_rec* server;
};

void append_u32(std::string& out, std::uint32_t n) { out.append(reinterpret_cast<const char*>(&n), sizeof n); }

apr_status_t collect(ap_socache_instance_t*, server_rec*, void* user, const unsigned char* id, unsigned int idlen,
                     const unsigned char* data, unsigned int datalen, apr_pool_t*) {
    try {
        auto& out = *static_cast<std::string*>(user);
        append_u32(out, idlen);
        out.append(reinterpret_cast<const char*>(id), idlen);
        append_u32(out, datalen);
        out.append(reinterpret_cast<const char*>(data), datalen);
        return APR_SUCCESS;
    } catch (...) {
        return APR_ENOMEM;
    }
}

apr_status_t copy_out(void* data) {
    auto* copy = static_cast<Copy*>(data);
    apr_pool_t* pool = nullptr;
    try {
        if (apr_pool_create_unmanaged_ex(&pool, nullptr, nullptr) != APR_SUCCESS) return APR_SUCCESS;
        std::string bytes;
        apr_status_t rv;
        {
            // Old-generation children may still be writing.
            const bool locked = apr_global_mutex_lock(copy->config->mutex) == APR_SUCCESS;
            rv = copy->store->provider->iterate(copy->store->instance, copy->server, &bytes, &collect, pool);
            if (locked) apr_global_mutex_unlock(copy->config->mutex);
        }
        if (rv == APR_SUCCESS && !bytes.empty()) {
            auto* carried = static_cast<Carried*>(std::malloc(sizeof(Carried) + bytes.size()));
            if (carried) {
                carried->size = bytes.size();
                std::memcpy(carried->data, bytes.data(), bytes.size());
                apr_pool_userdata_set(carried, userdata_key(*copy->store).c_str(), nullptr,
                                      copy->server->process->pool);
            }
        } else if (rv != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, rv, copy->server,
                         PP_TAG(530) "fleet view: the entries of %s could not be kept across the restart",
                         copy->store->spec.c_str());
        }
    } catch (...) {
        // A restart must go on; the fleet starts empty then.
    }
    if (pool) apr_pool_destroy(pool);
    delete copy;
    return APR_SUCCESS;
}

bool read_u32(const char*& p, const char* end, std::uint32_t& n) {
    if (static_cast<std::size_t>(end - p) < sizeof n) return false;
    std::memcpy(&n, p, sizeof n);
    p += sizeof n;
    return true;
}

}  // namespace

void carry_over_at_restart(FleetConfig& config, FleetStore& store, server_rec* s, apr_pool_t* pconf) {
    apr_pool_cleanup_register(pconf, new Copy{&config, &store, s}, &copy_out, apr_pool_cleanup_null);
}

std::size_t restore_carried_over(FleetConfig& config, FleetStore& store, server_rec* s, apr_pool_t* ptemp) {
    const std::string key = userdata_key(store);
    void* data = nullptr;
    apr_pool_userdata_get(&data, key.c_str(), s->process->pool);
    auto* carried = static_cast<Carried*>(data);
    if (!carried) return 0;
    apr_pool_userdata_set(nullptr, key.c_str(), nullptr, s->process->pool);

    std::size_t restored = 0;
    SocacheFleetCache cache(store, config.mutex, s, ptemp);
    // Records keep their own times; the cache entries get a fresh expiry,
    // and the reader drops what is older than PolyProvFleetExpire anyway.
    const UnixTime expires = static_cast<UnixTime>(std::time(nullptr)) + store.expire;
    const char* p = carried->data;
    const char* end = carried->data + carried->size;
    std::uint32_t klen = 0, vlen = 0;
    while (read_u32(p, end, klen) && static_cast<std::size_t>(end - p) >= klen) {
        const std::string_view k(p, klen);
        p += klen;
        if (!read_u32(p, end, vlen) || static_cast<std::size_t>(end - p) < vlen) break;
        const std::string_view v(p, vlen);
        p += vlen;
        if (cache.put(k, v, expires)) ++restored;
    }
    std::free(carried);
    return restored;
}

}  // namespace polyprov::glue
