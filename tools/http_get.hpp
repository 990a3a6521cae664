// Downloads with OpenSSL's own HTTP client, so the tool needs nothing the
// module does not already link.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>

namespace polyprov::cli {

// The download did not complete: no connection, an HTTP error status, a
// refused TLS certificate, a timeout, a connection closed early.
class DownloadError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

struct Download {
    std::string body;
    std::string final_url;  // after redirects
};

// GETs `url` (http:// or https://), which must answer with one DER object (a
// certificate, as PKIs publish them) of at most `max_bytes`, each hop within
// `timeout_seconds`. Up to five redirects are followed, relative or
// absolute, never from https to http. An https server must present a
// certificate the system trusts (SSL_CERT_FILE / SSL_CERT_DIR) for the host
// of the URL of that hop. http_proxy, https_proxy and no_proxy apply as for
// other tools. Throws DownloadError naming the URL and OpenSSL's reasons, or
// polyprov::Error when a complete answer was not one DER object.
Download http_get_der(const std::string& url, std::size_t max_bytes, int timeout_seconds);

// The same transfer rules (redirects, proxies, TLS, timeout), for a body in
// any format of at most `max_bytes` (CRLs come as DER or PEM). Throws
// DownloadError also when the body ends before its Content-Length, or
// polyprov::Error when the server announces or sends more than `max_bytes`.
Download http_get_bytes(const std::string& url, std::size_t max_bytes, int timeout_seconds);
// For https: a client certificate and key (PEM files, both or neither), and
// the CAs to trust for the server instead of the system's (cacert).
struct ClientTls {
    std::string cert, key, cacert;
};

// GETs `url` and returns its body (any content), at most `max_bytes`,
// within `timeout_seconds`. No redirects are followed (a status page does
// not move): a redirect is a DownloadError naming the new URL, as are
// every other status but 200, a body cut short of its Content-Length, and
// TLS failures. Proxies as for http_get_der.
std::string http_get_body(const std::string& url, const ClientTls& tls, std::size_t max_bytes, int timeout_seconds);

}  // namespace polyprov::cli
