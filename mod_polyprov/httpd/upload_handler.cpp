// PUT where PolyProvUpload is on: the body is received into a staged file
// first, then handed to the core's UploadDirectory, which decides where it
// goes. This file only reads the request and writes the reply.

#include "dir_config.hpp"
#include "glue.hpp"
#include "hooks.hpp"
#include "server_counters.hpp"
#include "request_note.hpp"

#include "http_protocol.h"
#include "http_request.h"
#include "util_filter.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include <polyprov/access_policy.hpp>
#include <polyprov/upload_request.hpp>
#include <polyprov/upload_store.hpp>

// APR's bucket-ring macros (APR_BRIGADE_SENTINEL) compute their sentinel
// by pointer arithmetic that clang reports; the idiom is APR's own.
#if defined(__clang__)
#pragma clang diagnostic ignored "-Wnull-pointer-subtraction"
#endif

namespace polyprov::glue {
namespace {

struct Failure {
    int status;
    const char* reason;   // for POLYPROV_DECISION-style logs
    std::string detail;
};

// Reads the whole body into `staged`; a Failure when it is malformed, too
// large, short, or cannot be stored.
std::optional<Failure> receive_body(request_rec* r, StagedBody& staged, std::uint64_t limit) {
    apr_bucket_brigade* bb = apr_brigade_create(r->pool, r->connection->bucket_alloc);
    for (bool seen_eos = false; !seen_eos;) {
        const apr_status_t rv = ap_get_brigade(r->input_filters, bb, AP_MODE_READBYTES, APR_BLOCK_READ, 64 * 1024);
        if (rv != APR_SUCCESS)
            return Failure{ap_map_http_request_error(rv, HTTP_BAD_REQUEST), "body", "the body could not be read"};
        for (apr_bucket* b = APR_BRIGADE_FIRST(bb); b != APR_BRIGADE_SENTINEL(bb); b = APR_BUCKET_NEXT(b)) {
            if (APR_BUCKET_IS_EOS(b)) {
                seen_eos = true;
                break;
            }
            const char* data = nullptr;
            apr_size_t length = 0;
            if (apr_bucket_read(b, &data, &length, APR_BLOCK_READ) != APR_SUCCESS)
                return Failure{HTTP_BAD_REQUEST, "body", "the body could not be read"};
            if (staged.size() + length > limit)
                return Failure{HTTP_REQUEST_ENTITY_TOO_LARGE, "too-large", "the body is larger than PolyProvUploadMaxSize"};
            if (!staged.append(data, length)) {
                const int err = staged.error();
                const bool full = err == ENOSPC || err == EDQUOT;
                return Failure{full ? HTTP_INSUFFICIENT_STORAGE : HTTP_INTERNAL_SERVER_ERROR, full ? "disk-full" : "io",
                               std::string("staging the body: ") + std::strerror(err)};
            }
        }
        apr_brigade_cleanup(bb);
    }
    return std::nullopt;
}

int status_of(UploadStatus s) {
    switch (s) {
    case UploadStatus::created:
    case UploadStatus::rotated: return HTTP_CREATED;
    case UploadStatus::replaced:
    case UploadStatus::written: return HTTP_NO_CONTENT;
    case UploadStatus::not_regular: return HTTP_FORBIDDEN;
    case UploadStatus::start_beyond_end: return HTTP_RANGE_NOT_SATISFIABLE;
    case UploadStatus::too_large: return HTTP_REQUEST_ENTITY_TOO_LARGE;
    case UploadStatus::disk_full: return HTTP_INSUFFICIENT_STORAGE;
    case UploadStatus::failed: return HTTP_INTERNAL_SERVER_ERROR;
    case UploadStatus::busy: return HTTP_SERVICE_UNAVAILABLE;
    }
    return HTTP_INTERNAL_SERVER_ERROR;
}

const char* reason_of(UploadStatus s) {
    switch (s) {
    case UploadStatus::not_regular: return "not-writable";
    case UploadStatus::start_beyond_end: return "beyond-end";
    case UploadStatus::too_large: return "too-large";
    case UploadStatus::disk_full: return "disk-full";
    case UploadStatus::busy: return "busy";
    default: return "io";
    }
}

int refuse(request_rec* r, const Failure& f, const std::optional<Mac>& mac, const char* range) {
    if (f.status == HTTP_FORBIDDEN) {
        set_decision(r, "deny:not-writable");
        request_note(r).denial = Denial::not_writable;
    }
    ap_log_rerror(APLOG_MARK, f.status >= 500 ? APLOG_ERR : APLOG_INFO, 0, r,
                  PP_TAG(301) "upload refused (%d %s): MAC %s, path %s, range %s%s%s", f.status, f.reason,
                  mac ? mac->str().c_str() : "-", r->uri, range ? range : "-", f.detail.empty() ? "" : ": ",
                  f.detail.c_str());
    return f.status;
}

// Temporaries of uploads cut short (a child killed mid-body) are swept when
// the directory is next written, at most every few minutes per directory
// and process: a readdir of a busy log directory is not free.
void sweep_now_and_then(request_rec* r, const UploadDirectory& dir, const std::string& path) {
    static std::mutex mutex;
    static std::map<std::string, apr_time_t> last_sweep;
    constexpr apr_time_t kEvery = apr_time_from_sec(300);
    constexpr long kIdleSeconds = 900;
    {
        std::lock_guard<std::mutex> lock(mutex);
        apr_time_t& last = last_sweep[path];
        if (r->request_time - last < kEvery) return;
        last = r->request_time;
    }
    if (const unsigned removed = dir.sweep_stale_temporaries(kIdleSeconds))
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, PP_TAG(303) "removed %u stale upload temporar%s in %s", removed,
                      removed == 1 ? "y" : "ies", path.c_str());
}

int upload(request_rec* r, const DirConfig* conf) {
    const RequestNote* note = find_request_note(r);
    const std::optional<Mac> mac = note && note->decided && note->denial == Denial::none ? note->device : std::nullopt;
    const char* range_header = apr_table_get(r->headers_in, "Content-Range");

    // Only a device the access check admitted, only a plain file name in
    // this directory (no directory creation), only a name with its own MAC.
    if (!mac)
        return refuse(r, {HTTP_FORBIDDEN, "not-writable", "no authenticated device (PolyProvRequireDevice on is needed)"},
                      mac, range_header);
    if (!r->filename || (r->path_info && *r->path_info))
        return refuse(r, {HTTP_FORBIDDEN, "not-writable", "the directory does not exist"}, mac, range_header);
    const char* slash = std::strrchr(r->filename, '/');
    if (!slash || !slash[1])
        return refuse(r, {HTTP_FORBIDDEN, "not-writable", "not a file name"}, mac, range_header);
    const std::string directory(r->filename, static_cast<std::size_t>(slash - r->filename));
    const std::string name(slash + 1);

    const UploadLimits limits{conf->upload_max ? conf->upload_max : kDefaultUploadMax,
                              static_cast<unsigned>(conf->upload_keep >= 0 ? conf->upload_keep : kDefaultUploadKeep),
                              std::chrono::milliseconds(apr_time_as_msec(r->server->timeout))};
    const UploadPlan plan = plan_upload(name, *mac, range_header, apr_table_get(r->headers_in, "Content-Length"),
                                        limits.max_size);
    if (plan.status != 0) return refuse(r, {plan.status, plan.reason, plan.detail}, mac, range_header);

    UploadDirectory dir(directory);
    sweep_now_and_then(r, dir, directory);
    StagedBody staged = dir.stage();
    if (auto failure = receive_body(r, staged, limits.max_size)) return refuse(r, *failure, mac, range_header);
    if (auto mismatch = body_mismatch(plan, staged.size()))
        return refuse(r, {HTTP_BAD_REQUEST, "bad-length", *mismatch}, mac, range_header);

    const UploadResult result =
        plan.range ? dir.write_at(name, plan.range->first, staged, limits) : dir.replace(name, staged, limits);
    const int status = status_of(result.status);
    if (status == HTTP_RANGE_NOT_SATISFIABLE)
        apr_table_setn(r->err_headers_out, "Content-Range",
                       apr_psprintf(r->pool, "bytes */%" APR_UINT64_T_FMT, static_cast<apr_uint64_t>(result.current_size)));
    if (status == HTTP_SERVICE_UNAVAILABLE)
        apr_table_setn(r->err_headers_out, "Retry-After",
                       apr_psprintf(r->pool, "%" APR_TIME_T_FMT, std::max<apr_time_t>(1, apr_time_sec(r->server->timeout))));
    if (status >= 300) return refuse(r, {status, reason_of(result.status), result.detail}, mac, range_header);

    if (result.status == UploadStatus::rotated)
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, PP_TAG(302) "rotated %s for MAC %s (size limit %" APR_UINT64_T_FMT ")",
                      r->filename, mac->str().c_str(), static_cast<apr_uint64_t>(limits.max_size));
    count(&SharedCounters::uploads);
    count(&SharedCounters::upload_bytes, staged.size());
    r->status = status;
    if (status == HTTP_CREATED) apr_table_setn(r->headers_out, "Location", ap_escape_uri(r->pool, r->uri));
    ap_set_content_length(r, 0);
    return OK;
}

}  // namespace

int handle_upload(request_rec* r) noexcept {
    try {
        if (r->method_number != M_PUT) return DECLINED;
        const DirConfig* conf = dir_config(r);
        if (!uploads_on(conf)) return DECLINED;
        return upload(r, conf);
    } catch (const std::exception& e) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, PP_TAG(904) "upload failed: %s", e.what());
    } catch (...) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, PP_TAG(904) "upload failed");
    }
    return HTTP_INTERNAL_SERVER_ERROR;
}

// What phones upload is served back as data: text/plain or
// application/xml with nosniff, whatever mime.types says of the name.
int serve_uploads_as_data(request_rec* r) noexcept {
    try {
        const DirConfig* conf = dir_config(r);
        if (!uploads_on(conf) || !r->filename) return DECLINED;
        apr_table_setn(r->err_headers_out, "X-Content-Type-Options", "nosniff");
        if (r->finfo.filetype == APR_REG && r->method_number == M_GET) {
            const char* slash = std::strrchr(r->filename, '/');
            ap_set_content_type(r, upload_content_type(slash ? slash + 1 : r->filename));
            r->content_encoding = nullptr;
            r->content_languages = nullptr;
            // Sent as it is stored, whatever AddHandler or SetHandler say of the name.
            r->handler = "default-handler";
        }
    } catch (...) {
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    return DECLINED;
}

}  // namespace polyprov::glue
