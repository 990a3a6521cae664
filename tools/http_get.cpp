#include "http_get.hpp"

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

using SslCtxPtr = std::unique_ptr<SSL_CTX, OpenSslDeleter<SSL_CTX, SSL_CTX_free>>;

// What OSSL_HTTP_get hands its connection callback: where the URL points
// (the name the server's certificate must carry), and a TLS context made on
// first use.
struct TlsSetup {
    std::string host;
    std::string port;
    int timeout_seconds;
    SslCtxPtr ctx;
    // OpenSSL's "certificate verify failed" does not say why; this does.
    std::string verify_error;
};

bool is_ip_literal(const std::string& host) {
    ASN1_OCTET_STRING* ip = a2i_IPADDRESS(host.c_str());
    ERR_clear_error();
    ASN1_OCTET_STRING_free(ip);
    return ip != nullptr;
}

SSL_CTX* client_context(TlsSetup& tls) {
    if (tls.ctx) return tls.ctx.get();
    SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
    if (!ctx || SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION) != 1 ||
        SSL_CTX_set_default_verify_paths(ctx.get()) != 1)
        return nullptr;
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
    tls.ctx = std::move(ctx);
    return tls.ctx.get();
}

// Called once the TCP connection stands (connect = 1; detail = 1 when the
// URL asks for TLS) and again when it ends (connect = 0). Puts an SSL BIO
// in front of the connection for https and takes it off again afterwards.
BIO* tls_connection_hook(BIO* bio, void* arg, int connect, int detail) {
    auto& tls = *static_cast<TlsSetup*>(arg);
    if (connect && detail) {
        // Through a proxy the connection so far reaches the proxy; ask it
        // for a tunnel before TLS starts.
        if (OSSL_HTTP_adapt_proxy(nullptr, nullptr, tls.host.c_str(), 1) &&
            OSSL_HTTP_proxy_connect(bio, tls.host.c_str(), tls.port.c_str(), nullptr, nullptr, tls.timeout_seconds,
                                    nullptr, nullptr) != 1)
            return nullptr;
        SSL_CTX* ctx = client_context(tls);
        BIO* ssl_bio = ctx ? BIO_new_ssl(ctx, 1) : nullptr;
        SSL* ssl = nullptr;
        if (!ssl_bio || BIO_get_ssl(ssl_bio, &ssl) != 1 || !ssl) {
            BIO_free(ssl_bio);
            return nullptr;
        }
        // Without a name to check, any certificate from a trusted CA would do.
        const bool named = is_ip_literal(tls.host)
                               ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), tls.host.c_str()) == 1
                               : SSL_set_tlsext_host_name(ssl, tls.host.c_str()) == 1 &&
                                     SSL_set1_host(ssl, tls.host.c_str()) == 1;
        if (!named) {
            BIO_free(ssl_bio);
            return nullptr;
        }
        return BIO_push(ssl_bio, bio);
    }
    if (!connect && BIO_method_type(bio) == BIO_TYPE_SSL) {
        // Errors from the shutdown (a peer that closed first) are dropped;
        // those that ended the transfer stay for the message.
        SSL* ssl = nullptr;
        if (BIO_get_ssl(bio, &ssl) == 1 && ssl) {
            const long result = SSL_get_verify_result(ssl);
            if (result != X509_V_OK) tls.verify_error = X509_verify_cert_error_string(result);
        }
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

}  // namespace

std::string http_get_der(const std::string& url, std::size_t max_bytes, int timeout_seconds) {
    ERR_clear_error();
    char* host = nullptr;
    char* port = nullptr;
    if (OSSL_HTTP_parse_url(url.c_str(), nullptr, nullptr, &host, &port, nullptr, nullptr, nullptr, nullptr) != 1)
        throw DownloadError(url + ": not an http:// or https:// URL: " + drain_openssl_errors());
    TlsSetup tls{host, port, timeout_seconds, nullptr, {}};
    OPENSSL_free(host);
    OPENSSL_free(port);

    // Null proxy and no_proxy: OpenSSL reads http(s)_proxy and no_proxy.
    // expect_asn1 makes OpenSSL read the whole body, bounded by max_bytes,
    // into memory; without it the body would be left on the connection.
    BioPtr body(OSSL_HTTP_get(url.c_str(), nullptr, nullptr, nullptr, nullptr, &tls_connection_hook, &tls, 0,
                              nullptr, nullptr, 1, max_bytes, timeout_seconds));
    if (!body) {
        const unsigned long first = ERR_peek_error();
        if (ERR_GET_LIB(first) == ERR_LIB_HTTP && (ERR_GET_REASON(first) == HTTP_R_MISSING_ASN1_ENCODING ||
                                                   ERR_GET_REASON(first) == HTTP_R_ERROR_PARSING_ASN1_LENGTH)) {
            ERR_clear_error();
            throw Error(url + ": is not a DER certificate (the server sent something else: an error page? PEM?)");
        }
        std::string why = drain_openssl_errors();
        if (!tls.verify_error.empty()) why += " (server certificate: " + tls.verify_error + ")";
        if (why.find("timeout") != std::string::npos) why += " (limit " + std::to_string(timeout_seconds) + " s)";
        throw DownloadError(url + ": download failed: " + why);
    }
    std::string out;
    char buf[4096];
    for (int n; (n = BIO_read(body.get(), buf, sizeof buf)) > 0;) out.append(buf, static_cast<std::size_t>(n));
    ERR_clear_error();
    return out;
}

}  // namespace polyprov::cli
