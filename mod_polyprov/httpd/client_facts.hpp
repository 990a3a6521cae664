// What the TLS layer tells about the client, read once per connection.
#pragma once

#include "httpd.h"

#include <polyprov/acl.hpp>

namespace polyprov::glue {

struct CertificateFacts {
    const char* pem;       // the key: a renegotiated certificate is read again
    const char* cn;        // "" when the subject has none
    Sha256 fingerprint;
    bool expired;          // the leaf, or under "chain" a CA the client sent
    bool leaf_expired;     // the client certificate itself
};

// Null when the request did not come over TLS with a client certificate.
// Looked up afresh on every call (keyed by the PEM mod_ssl hands out), not
// kept for the request: mod_ssl may renegotiate a new certificate in its
// access checker, between post_read_request and fixups.
const CertificateFacts* certificate_facts(request_rec* r);

// An SSL variable of the request's connection, or null when empty.
const char* ssl_var(request_rec* r, const char* name);

}  // namespace polyprov::glue
