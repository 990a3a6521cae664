#include "http_get.hpp"

#include <ctime>
#include <memory>

#include <openssl/err.h>
#include <openssl/http.h>
#include <openssl/httperr.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <polyprov/error.hpp>
#include <polyprov/openssl_ptr.hpp>

namespace polyprov::cli {
namespace {

constexpr int kMaxRedirects = 5;

using SslCtxPtr = std::unique_ptr<SSL_CTX, OpenSslDeleter<SSL_CTX, SSL_CTX_free>>;

struct OpenSslString {
    char* p = nullptr;
    ~OpenSslString() { OPENSSL_free(p); }
    std::string str() const { return p ? p : ""; }
};

struct ReqCtxCloser {
    void operator()(OSSL_HTTP_REQ_CTX* rctx) const noexcept { OSSL_HTTP_close(rctx, 0); }
};
using ReqCtxPtr = std::unique_ptr<OSSL_HTTP_REQ_CTX, ReqCtxCloser>;

struct Url {
    bool https = false;
    std::string host, port, path;  // path with its query
};

Url parse_url(const std::string& url);

// What the connection callback needs for one hop: the host and port the URL
// names (the name the server's certificate must carry), and the reason a
// server certificate was refused, which OpenSSL's own message omits.
struct TlsSetup {
    const Url& url;
    int timeout_seconds;
    SSL_CTX* ctx;
    std::string verify_error = {};
};

bool is_ip_literal(const std::string& host) {
    ASN1_OCTET_STRING* ip = a2i_IPADDRESS(host.c_str());
    ERR_clear_error();
    const bool literal = ip != nullptr;
    ASN1_OCTET_STRING_free(ip);
    return literal;
}

SslCtxPtr client_context() {
    SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
    if (!ctx || SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION) != 1 ||
        SSL_CTX_set_default_verify_paths(ctx.get()) != 1)
        return nullptr;
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
    return ctx;
}

// Called once the TCP connection stands (connect = 1; detail = 1 when the
// hop is https) and again when it ends (connect = 0). Puts an SSL BIO in
// front of the connection for https and takes it off again afterwards.
BIO* tls_connection_hook(BIO* bio, void* arg, int connect, int detail) {
    auto& tls = *static_cast<TlsSetup*>(arg);
    const std::string& host = tls.url.host;
    if (connect && detail) {
        // Through a proxy the connection so far reaches the proxy; ask it
        // for a tunnel before TLS starts.
        if (OSSL_HTTP_adapt_proxy(nullptr, nullptr, host.c_str(), 1) &&
            OSSL_HTTP_proxy_connect(bio, host.c_str(), tls.url.port.c_str(), nullptr, nullptr, tls.timeout_seconds,
                                    nullptr, nullptr) != 1)
            return nullptr;
        BIO* ssl_bio = tls.ctx ? BIO_new_ssl(tls.ctx, 1) : nullptr;
        SSL* ssl = nullptr;
        if (!ssl_bio || BIO_get_ssl(ssl_bio, &ssl) != 1 || !ssl) {
            BIO_free(ssl_bio);
            return nullptr;
        }
        // Without a name to check, any certificate from a trusted CA would do.
        bool named;
        if (is_ip_literal(host)) {
            named = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host.c_str()) == 1;
        } else {
            SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
            named = SSL_set_tlsext_host_name(ssl, host.c_str()) == 1 && SSL_set1_host(ssl, host.c_str()) == 1;
        }
        if (!named) {
            BIO_free(ssl_bio);
            return nullptr;
        }
        return BIO_push(ssl_bio, bio);
    }
    if (!connect && BIO_method_type(bio) == BIO_TYPE_SSL) {
        SSL* ssl = nullptr;
        if (BIO_get_ssl(bio, &ssl) == 1 && ssl) {
            const long result = SSL_get_verify_result(ssl);
            if (result != X509_V_OK) tls.verify_error = X509_verify_cert_error_string(result);
        }
        // Errors from the shutdown (a peer that closed first) are dropped;
        // those that ended the transfer stay for the message.
        ERR_set_mark();
        BIO_ssl_shutdown(bio);
        BIO* below = BIO_pop(bio);
        BIO_free(bio);
        ERR_pop_to_mark();
        return below;
    }
    return bio;
}

std::string drain_openssl_errors() {
    std::string out;
    const char* data = nullptr;
    int flags = 0;
    while (const unsigned long e = ERR_get_error_all(nullptr, nullptr, nullptr, &data, &flags)) {
        const char* reason = ERR_reason_error_string(e);
        std::string item = reason ? reason : "error " + std::to_string(ERR_GET_REASON(e));
        if ((flags & ERR_TXT_STRING) && data && *data) item += std::string(" (") + data + ")";
        if (!out.empty()) out += "; ";
        out += item;
    }
    return out.empty() ? std::string("unknown error") : out;
}

Url parse_url(const std::string& url) {
    int https = 0;
    OpenSslString host, port, path, query;
    if (OSSL_HTTP_parse_url(url.c_str(), &https, nullptr, &host.p, &port.p, nullptr, &path.p, &query.p, nullptr) != 1)
        throw DownloadError(url + ": not an http:// or https:// URL: " + drain_openssl_errors());
    Url out{https != 0, host.str(), port.str(), path.str()};
    if (query.p && *query.p) out.path += "?" + query.str();
    return out;
}

// A Location header, relative ("/pki/x.crt") or absolute, made absolute.
std::string resolve(const Url& base, const std::string& location) {
    if (location.rfind("/", 0) != 0) return location;
    const bool ipv6 = base.host.find(':') != std::string::npos;
    return std::string(base.https ? "https://" : "http://") + (ipv6 ? "[" + base.host + "]" : base.host) + ":" +
           base.port + location;
}

// Complete answers that are not one DER object: the content is wrong, not
// the transfer.
bool refused_content(unsigned long err) {
    if (ERR_GET_LIB(err) != ERR_LIB_HTTP) return false;
    switch (ERR_GET_REASON(err)) {
    case HTTP_R_MISSING_ASN1_ENCODING:
    case HTTP_R_ERROR_PARSING_ASN1_LENGTH:
    case HTTP_R_INCONSISTENT_CONTENT_LENGTH:
    case HTTP_R_MAX_RESP_LEN_EXCEEDED:
        return true;
    default:
        return false;
    }
}

enum class Expect { der_object, bytes };

// A streamed body (OpenSSL hands back the connection, non-blocking): read
// it all, or Content-Length bytes when the server said how many, within
// the hop's deadline.
void read_stream(BIO* bio, const std::string& url, std::size_t announced, std::size_t max_bytes, std::time_t deadline,
                 int timeout_seconds, std::string& out) {
    char buf[16384];
    while (announced == 0 || out.size() < announced) {
        const int n = BIO_read(bio, buf, sizeof buf);
        if (n > 0) {
            if (out.size() + static_cast<std::size_t>(n) > max_bytes)
                throw Error(url + ": is larger than " + std::to_string(max_bytes) + " bytes, refused");
            out.append(buf, static_cast<std::size_t>(n));
            continue;
        }
        if (!BIO_should_retry(bio)) break;
        const int ready = BIO_wait(bio, deadline, 100);
        if (ready == 0)
            throw DownloadError(url + ": download failed: timeout reading the body (limit " +
                                std::to_string(timeout_seconds) + " s)");
        if (ready < 0) throw DownloadError(url + ": download failed: " + drain_openssl_errors());
    }
    if (announced != 0 && out.size() != announced)
        throw DownloadError(url + ": download failed: the body ended after " + std::to_string(out.size()) + " of " +
                            std::to_string(announced) + " bytes");
    // Without Content-Length only a clean end of the stream says it is complete.
    if (announced == 0 && ERR_peek_error() != 0)
        throw DownloadError(url + ": download failed: " + drain_openssl_errors());
}

Download http_get(const std::string& url, Expect expect, std::size_t max_bytes, int timeout_seconds) {
    ERR_clear_error();
    Download result;
    result.final_url = url;
    SslCtxPtr ctx;
    for (int hop = 0;; ++hop) {
        const std::string& current = result.final_url;
        const Url u = parse_url(current);
        if (u.https && !ctx && !(ctx = client_context()))
            throw DownloadError(current + ": cannot set up TLS: " + drain_openssl_errors());
        TlsSetup tls{u, timeout_seconds, ctx.get()};
        const std::time_t deadline = std::time(nullptr) + timeout_seconds;

        // Null proxy and no_proxy: OpenSSL reads http(s)_proxy and no_proxy.
        // expect_asn1 makes OpenSSL read the whole body, bounded by
        // max_bytes, into memory; without it the body stays on the socket
        // for read_stream (OpenSSL still refuses a larger Content-Length).
        ReqCtxPtr rctx(OSSL_HTTP_open(u.host.c_str(), u.port.c_str(), nullptr, nullptr, u.https, nullptr, nullptr,
                                      &tls_connection_hook, &tls, 0, timeout_seconds));
        OpenSslString location;
        BioPtr body;
        const int expect_asn1 = expect == Expect::der_object ? 1 : 0;
        if (rctx && OSSL_HTTP_set1_request(rctx.get(), u.path.c_str(), nullptr, nullptr, nullptr, nullptr, expect_asn1,
                                           max_bytes, -1, 0) == 1)
            body.reset(OSSL_HTTP_exchange(rctx.get(), &location.p));  // its own reference, freed before rctx
        if (body && expect == Expect::bytes) {
            ERR_clear_error();
            read_stream(body.get(), current, OSSL_HTTP_REQ_CTX_get_resp_len(rctx.get()), max_bytes, deadline,
                        timeout_seconds, result.body);
            ERR_clear_error();
            return result;
        }
        if (body) {
            char buf[4096];
            for (int n; (n = BIO_read(body.get(), buf, sizeof buf)) > 0;)
                result.body.append(buf, static_cast<std::size_t>(n));
            ERR_clear_error();
            return result;
        }
        if (location.p) {
            const std::string next = resolve(u, location.str());
            if (hop + 1 > kMaxRedirects) throw DownloadError(url + ": more than 5 redirects");
            if (u.https && next.rfind("https://", 0) != 0)
                throw DownloadError(current + ": redirects from https to " + next + ", refused");
            ERR_clear_error();
            result.final_url = next;
            continue;
        }
        if (refused_content(ERR_peek_error())) {
            const std::string why = drain_openssl_errors();
            if (expect == Expect::bytes)
                throw Error(current + ": is larger than " + std::to_string(max_bytes) + " bytes, refused: " + why);
            throw Error(current + ": is not a DER certificate (the server sent something else: an error page? PEM?): " +
                        why);
        }
        std::string why = drain_openssl_errors();
        if (why.find("timeout") != std::string::npos) why += " (limit " + std::to_string(timeout_seconds) + " s)";
        rctx.reset();  // runs the hook's disconnect, which records the verify error
        if (!tls.verify_error.empty()) why += " (server certificate: " + tls.verify_error + ")";
        throw DownloadError(current + ": download failed: " + why);
    }
}

}  // namespace

Download http_get_der(const std::string& url, std::size_t max_bytes, int timeout_seconds) {
    return http_get(url, Expect::der_object, max_bytes, timeout_seconds);
}

Download http_get_bytes(const std::string& url, std::size_t max_bytes, int timeout_seconds) {
    return http_get(url, Expect::bytes, max_bytes, timeout_seconds);
}

namespace {

// OSSL_HTTP_exchange hands out one more reference to the connection BIO: drop
// that one, not the chain (OSSL_HTTP_close takes the chain down).
using BodyPtr = std::unique_ptr<BIO, OpenSslDeleter<BIO, BIO_vfree>>;

SslCtxPtr client_context(const ClientTls& files, const std::string& url) {
    SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
    if (!ctx || SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION) != 1)
        throw DownloadError(url + ": cannot set up TLS: " + drain_openssl_errors());
    const bool trusted = files.cacert.empty() ? SSL_CTX_set_default_verify_paths(ctx.get()) == 1
                                              : SSL_CTX_load_verify_file(ctx.get(), files.cacert.c_str()) == 1;
    if (!trusted) throw DownloadError(files.cacert + ": cannot read the CA certificates: " + drain_openssl_errors());
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
    // A server may ask for the certificate only for the status location
    // (per-directory SSLVerifyClient): TLS 1.3 does that after the handshake.
    SSL_CTX_set_post_handshake_auth(ctx.get(), 1);
    if (!files.cert.empty()) {
        if (SSL_CTX_use_certificate_chain_file(ctx.get(), files.cert.c_str()) != 1)
            throw DownloadError(files.cert + ": cannot read the client certificate: " + drain_openssl_errors());
        if (SSL_CTX_use_PrivateKey_file(ctx.get(), files.key.c_str(), SSL_FILETYPE_PEM) != 1 ||
            SSL_CTX_check_private_key(ctx.get()) != 1)
            throw DownloadError(files.key + ": cannot use the key for " + files.cert + ": " + drain_openssl_errors());
    }
    return ctx;
}

}  // namespace

std::string http_get_body(const std::string& url, const ClientTls& files, std::size_t max_bytes, int timeout_seconds) {
    ERR_clear_error();
    const Url u = parse_url(url);
    SslCtxPtr ctx;
    if (u.https) ctx = client_context(files, url);
    TlsSetup tls{u, timeout_seconds, ctx.get()};
    const std::time_t deadline = std::time(nullptr) + timeout_seconds;

    ReqCtxPtr rctx(OSSL_HTTP_open(u.host.c_str(), u.port.c_str(), nullptr, nullptr, u.https, nullptr, nullptr,
                                  &tls_connection_hook, &tls, 0, timeout_seconds));
    OpenSslString location;
    BodyPtr body;
    // expect_asn1 0: the body is left on the connection for us to read.
    if (rctx && OSSL_HTTP_set1_request(rctx.get(), u.path.c_str(), nullptr, nullptr, nullptr, nullptr, 0, max_bytes,
                                       -1, 0) == 1)
        body.reset(OSSL_HTTP_exchange(rctx.get(), &location.p));
    if (!body) {
        if (location.p) throw DownloadError(url + ": redirected to " + location.str() + "; give that URL");
        std::string why = drain_openssl_errors();
        if (why.find("timeout") != std::string::npos) why += " (limit " + std::to_string(timeout_seconds) + " s)";
        rctx.reset();
        if (!tls.verify_error.empty()) why += " (server certificate: " + tls.verify_error + ")";
        throw DownloadError(url + ": download failed: " + why);
    }
    std::string text;
    char buf[16384];
    for (;;) {
        const int n = BIO_read(body.get(), buf, sizeof buf);
        if (n > 0) {
            text.append(buf, static_cast<std::size_t>(n));
            if (text.size() > max_bytes)
                throw DownloadError(url + ": more than " + std::to_string(max_bytes) + " bytes");
            continue;
        }
        if (BIO_should_retry(body.get()) && BIO_wait(body.get(), deadline, 100) == 1) continue;
        break;
    }
    const std::size_t expected = OSSL_HTTP_REQ_CTX_get_resp_len(rctx.get());
    if (expected != 0 && text.size() != expected)
        throw DownloadError(url + ": the body ended after " + std::to_string(text.size()) + " of " +
                            std::to_string(expected) + " bytes");
    ERR_clear_error();
    return text;
}

}  // namespace polyprov::cli
