// Downloads with OpenSSL's own HTTP client, so the tool needs nothing the
// module does not already link.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>

namespace polyprov::cli {

// The download did not happen: no connection, an HTTP error status, a
// refused TLS certificate, a timeout, a body over the limit.
class DownloadError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// The body of a successful GET of `url` (http:// or https://), which must
// be one DER object (a certificate, as PKIs publish them) of at most
// `max_bytes`, fetched within `timeout_seconds`. Redirects are followed,
// never from https to http. An https server must present a certificate the
// system trusts (SSL_CERT_FILE / SSL_CERT_DIR) for the URL's host; a
// redirect to another host over https therefore fails. The http_proxy,
// https_proxy and no_proxy variables apply as for other tools.
// Throws DownloadError naming `url` and OpenSSL's reasons, or polyprov::Error
// when the server answered with something that is not DER.
std::string http_get_der(const std::string& url, std::size_t max_bytes, int timeout_seconds);

}  // namespace polyprov::cli
