#include "identity_env.hpp"

#include <cstring>

#include "glue.hpp"
#include "request_note.hpp"

namespace polyprov::glue {

namespace {

bool same_text(const char* a, const char* b) { return a == b || (a && b && std::strcmp(a, b) == 0); }

// `var` is written only when its value changes or the table no longer
// holds it as this module wrote it. `*written` is what it holds as we
// wrote it last.
template <typename Text>
void write_env(ModuleEnv& env, EnvVar var, bool unchanged, const char** written, Text text) {
    if (unchanged && env.holds(var, *written)) return;
    *written = text();
    env.write(var, *written);
}

const char* mac_text(apr_pool_t* pool, const std::optional<Mac>& mac) {
    if (!mac) return nullptr;
    struct Text {
        char c[Mac::kTextSize];
    };
    auto* text = static_cast<Text*>(apr_palloc(pool, sizeof(Text)));
    mac->format(text->c);
    return text->c;
}

}  // namespace

void set_identity_env(request_rec* r, const Authentication& auth, ModuleEnv& env) {
    const char* label = auth.device && auth.entry && auth.entry->has_label() ? auth.entry->label() : nullptr;
    RequestNote& note = request_note(r);
    const bool known = note.env_written;
    write_env(env, EnvVar::mac, known && note.env_device == auth.device, &note.env_mac,
              [&] { return mac_text(r->pool, auth.device); });
    write_env(env, EnvVar::label, known && same_text(note.env_label, label), &note.env_label,
              [&] { return label ? apr_pstrdup(r->pool, label) : nullptr; });
    write_env(env, EnvVar::claimed_mac, known && note.env_claimed_mac == auth.claimed, &note.env_claimed, [&] {
        return auth.claimed && auth.claimed == auth.device && note.env_mac ? note.env_mac   // the same text
                                                                           : mac_text(r->pool, auth.claimed);
    });
    note.env_device = auth.device;
    note.env_claimed_mac = auth.claimed;
    note.env_written = true;
}

}  // namespace polyprov::glue
