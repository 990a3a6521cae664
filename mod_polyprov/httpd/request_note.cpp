#include "request_note.hpp"

#include "glue.hpp"

#include <new>
#include <type_traits>

namespace polyprov::glue {

RequestNote& request_note(request_rec* r) {
    static_assert(std::is_trivially_destructible_v<RequestNote>, "lives in r->pool without a cleanup");
    auto* note = static_cast<RequestNote*>(ap_get_module_config(r->request_config, &polyprov_module));
    if (!note) {
        note = new (apr_palloc(r->pool, sizeof(RequestNote))) RequestNote{};
        ap_set_module_config(r->request_config, &polyprov_module, note);
    }
    return *note;
}

const RequestNote* find_request_note(const request_rec* r) {
    return static_cast<const RequestNote*>(ap_get_module_config(r->request_config, &polyprov_module));
}

void set_decision(request_rec* r, const char* decision) {
    apr_table_setn(r->subprocess_env, "POLYPROV_DECISION", decision);
    request_note(r).decision = decision;
}

}  // namespace polyprov::glue
