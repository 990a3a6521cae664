// PUT where PolyProvUpload is on: the body is received into a staged file
// first, then handed to the core's UploadDirectory, which decides where it
// goes. This file only reads the request and writes the reply.

#include "dir_config.hpp"
#include "glue.hpp"
#include "hooks.hpp"

#include "http_protocol.h"
#include "http_request.h"
#include "util_filter.h"

#include <cstring>
#include <optional>
#include <string>

#include <polyprov/access_policy.hpp>
#include <polyprov/content_range.hpp>
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
    }
    return HTTP_INTERNAL_SERVER_ERROR;
}

const char* reason_of(UploadStatus s) {
    switch (s) {
    case UploadStatus::not_regular: return "not-writable";
    case UploadStatus::start_beyond_end: return "beyond-end";
    case UploadStatus::too_large: return "too-large";
    case UploadStatus::disk_full: return "disk-full";
    default: return "io";
    }
}

int refuse(request_rec* r, const Failure& f, const std::optional<Mac>& mac, const char* range) {
    if (f.status == HTTP_FORBIDDEN) apr_table_setn(r->subprocess_env, "POLYPROV_DECISION", "deny:not-writable");
    ap_log_rerror(APLOG_MARK, f.status >= 500 ? APLOG_ERR : APLOG_INFO, 0, r,
                  PP_TAG(301) "upload refused (%d %s): MAC %s, path %s, range %s%s%s", f.status, f.reason,
                  mac ? mac->str().c_str() : "-", r->uri, range ? range : "-", f.detail.empty() ? "" : ": ",
                  f.detail.c_str());
    return f.status;
}

int upload(request_rec* r, const DirConfig* conf) {
    const AccessNote* note = access_note(r);
    const std::optional<Mac> mac = note ? note->mac : std::nullopt;
    const char* range_header = apr_table_get(r->headers_in, "Content-Range");

    // Only a device the access check admitted, only a plain file name in
    // this directory (no directory creation), only a name with its own MAC.
    if (!note || !note->allowed || !mac)
        return refuse(r, {HTTP_FORBIDDEN, "not-writable", "no authenticated device (PolyProvRequireDevice on is needed)"},
                      mac, range_header);
    if (!r->filename || (r->path_info && *r->path_info))
        return refuse(r, {HTTP_FORBIDDEN, "not-writable", "the directory does not exist"}, mac, range_header);
    const char* slash = std::strrchr(r->filename, '/');
    if (!slash || !slash[1])
        return refuse(r, {HTTP_FORBIDDEN, "not-writable", "not a file name"}, mac, range_header);
    const std::string directory(r->filename, static_cast<std::size_t>(slash - r->filename));
    const std::string name(slash + 1);
    if (!may_write(name, *mac, path_pattern(conf)))
        return refuse(r, {HTTP_FORBIDDEN, "not-writable",
                          "not a name this device may write (its own MAC; [A-Za-z0-9._-]; .log, .cfg or .xml)"},
                      mac, range_header);

    std::optional<ContentRange> range;
    if (range_header) {
        range = parse_content_range(range_header);
        if (!range) return refuse(r, {HTTP_BAD_REQUEST, "bad-range", "malformed Content-Range"}, mac, range_header);
    }
    const UploadLimits limits{conf->upload_max ? conf->upload_max : kDefaultUploadMax,
                              static_cast<unsigned>(conf->upload_keep >= 0 ? conf->upload_keep : kDefaultUploadKeep)};
    const std::uint64_t expected = range ? range->length() : 0;
    if (range && expected > limits.max_size)
        return refuse(r, {HTTP_REQUEST_ENTITY_TOO_LARGE, "too-large", "range larger than PolyProvUploadMaxSize"}, mac,
                      range_header);
    if (const char* cl = apr_table_get(r->headers_in, "Content-Length")) {
        apr_off_t length = 0;
        if (apr_strtoff(&length, cl, nullptr, 10) == APR_SUCCESS && length >= 0) {
            if (static_cast<std::uint64_t>(length) > limits.max_size)
                return refuse(r, {HTTP_REQUEST_ENTITY_TOO_LARGE, "too-large", "body larger than PolyProvUploadMaxSize"},
                              mac, range_header);
            if (range && static_cast<std::uint64_t>(length) != expected)
                return refuse(r, {HTTP_BAD_REQUEST, "bad-length", "Content-Length does not match Content-Range"}, mac,
                              range_header);
        }
    }

    UploadDirectory dir(directory);
    StagedBody staged = dir.stage();
    if (auto failure = receive_body(r, staged, limits.max_size)) return refuse(r, *failure, mac, range_header);
    if (range && staged.size() != expected)
        return refuse(r, {HTTP_BAD_REQUEST, "bad-length",
                          "body has " + std::to_string(staged.size()) + " bytes, the range " + std::to_string(expected)},
                      mac, range_header);

    const UploadResult result = range ? dir.write_at(name, range->first, staged, limits) : dir.replace(name, staged, limits);
    const int status = status_of(result.status);
    if (status == HTTP_RANGE_NOT_SATISFIABLE)
        apr_table_setn(r->err_headers_out, "Content-Range",
                       apr_psprintf(r->pool, "bytes */%" APR_UINT64_T_FMT, static_cast<apr_uint64_t>(result.current_size)));
    if (status >= 300) return refuse(r, {status, reason_of(result.status), result.detail}, mac, range_header);

    if (result.status == UploadStatus::rotated)
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, PP_TAG(302) "rotated %s for MAC %s (size limit %" APR_UINT64_T_FMT ")",
                      r->filename, mac->str().c_str(), static_cast<apr_uint64_t>(limits.max_size));
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
        if (!is_on(conf->upload, false)) return DECLINED;
        return upload(r, conf);
    } catch (const std::exception& e) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, PP_TAG(904) "upload failed: %s", e.what());
    } catch (...) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, PP_TAG(904) "upload failed");
    }
    return HTTP_INTERNAL_SERVER_ERROR;
}

}  // namespace polyprov::glue
