// The module's variables in r->subprocess_env. Every POLYPROV_ name has
// the same APR table checksum (built from its first four letters), so an
// apr_table_get or apr_table_setn of one compares against all the others:
// a hook reads the table once (ModuleEnv) and writes only what differs.
#pragma once

#include "apr_tables.h"

namespace polyprov::glue {

enum class EnvVar { mac, label, claimed_mac, cert_expired, decision };
constexpr int kEnvVars = 5;

class ModuleEnv {
public:
    explicit ModuleEnv(apr_table_t* table);   // one pass over the table

    // Whether `var` is in the table exactly as this module left it: once,
    // with the pointer `ours`, or not at all when `ours` is null. Anything
    // else (replaced, removed, or a second entry added with apr_table_add,
    // which apr_table_get would not show but a CGI backend would see) is not.
    bool holds(EnvVar var, const char* ours) const noexcept;

    // Sets `var` to `value` (which must outlive the request); null removes it.
    void write(EnvVar var, const char* value);

private:
    struct Seen {
        int entries = 0;
        const char* value = nullptr;
    };
    apr_table_t* table_;
    Seen seen_[kEnvVars];
};

}  // namespace polyprov::glue
