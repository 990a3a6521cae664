#include "module_env.hpp"

#include <strings.h>

namespace polyprov::glue {
namespace {

constexpr const char kPrefix[] = "POLYPROV_";
constexpr int kPrefixSize = sizeof kPrefix - 1;
constexpr const char* kNames[kEnvVars] = {"POLYPROV_MAC", "POLYPROV_LABEL", "POLYPROV_CLAIMED_MAC",
                                          "POLYPROV_CERT_EXPIRED", "POLYPROV_DECISION"};

char upper(char c) noexcept { return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c; }

// Which of the module's names `key` is, compared as APR compares keys
// (ignoring case), or -1. A first letter tells most keys apart.
int which(const char* key) noexcept {
    for (int i = 0; i < kEnvVars; ++i)
        if (key == kNames[i]) return i;   // as this module wrote it (APR keeps the key's pointer)
    if (upper(key[0]) != 'P' || strncasecmp(key, kPrefix, kPrefixSize) != 0) return -1;
    const char* rest = key + kPrefixSize;
    for (int i = 0; i < kEnvVars; ++i) {
        const char* name = kNames[i] + kPrefixSize;
        if (upper(rest[0]) == name[0] && strcasecmp(rest, name) == 0) return i;
    }
    return -1;
}

}  // namespace

ModuleEnv::ModuleEnv(apr_table_t* table) : table_(table) {
    const apr_array_header_t* elts = apr_table_elts(table);
    const auto* entry = reinterpret_cast<const apr_table_entry_t*>(elts->elts);
    for (int i = 0; i < elts->nelts; ++i) {
        if (!entry[i].key) continue;
        const int var = which(entry[i].key);
        if (var < 0) continue;
        ++seen_[var].entries;
        seen_[var].value = entry[i].val;
    }
}

bool ModuleEnv::holds(EnvVar var, const char* ours) const noexcept {
    const Seen& seen = seen_[static_cast<int>(var)];
    return ours ? seen.entries == 1 && seen.value == ours : seen.entries == 0;
}

void ModuleEnv::write(EnvVar var, const char* value) {
    Seen& seen = seen_[static_cast<int>(var)];
    const char* name = kNames[static_cast<int>(var)];
    if (!value) {
        if (seen.entries) apr_table_unset(table_, name);
    } else if (seen.entries == 0) {
        apr_table_addn(table_, name, value);   // nothing to replace: no search
    } else {
        apr_table_setn(table_, name, value);
    }
    seen = value ? Seen{1, value} : Seen{};
}

}  // namespace polyprov::glue
