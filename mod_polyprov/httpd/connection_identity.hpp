// Who is on a connection: its client certificate's facts and the device
// they authenticate, by the core's one authentication rule. Worked out once
// per certificate and settings rather than on every request of a keep-alive
// connection, and kept with the connection (connection_state.hpp) until
// the certificate or a list changes.
#pragma once

#include "httpd.h"

#include <cstdint>
#include <ctime>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <openssl/x509.h>

#include <polyprov/acl.hpp>
#include <polyprov/authentication.hpp>
#include <polyprov/sha256.hpp>

namespace polyprov::glue {

// One client certificate as the connection presents it now, read from
// mod_ssl's SSL object once per certificate rather than through SSL
// variables on every request (SSL_CLIENT_CERT PEM-encodes the certificate
// on each lookup).
class CertificateFacts {
public:
    explicit CertificateFacts(X509* cert);   // holds a reference to `cert`
    ~CertificateFacts();
    CertificateFacts(const CertificateFacts&) = delete;
    CertificateFacts& operator=(const CertificateFacts&) = delete;

    // SHA-256 of the DER, worked out on first use (only a pin needs it),
    // once for all the connection's requests and streams.
    const std::optional<Sha256>& fingerprint() const;
    const X509* certificate() const noexcept { return cert_; }

    std::optional<std::string> cn;          // single_common_name: null when it names no one
    std::optional<std::time_t> not_after;   // null when unreadable (treated as expired)
    std::string not_after_text;             // ISO 8601, for logs and the fleet view
    bool verified = false;                  // SSL_CLIENT_VERIFY said SUCCESS
    std::uint64_t serial = 0;               // which certificate of the connection (renegotiation counts up)

    bool expired_at(std::time_t now) const noexcept { return !not_after || *not_after < now; }

private:
    X509* cert_;
    mutable std::once_flag digested_;
    mutable std::optional<Sha256> fingerprint_;
};

struct RequestIdentity {
    std::shared_ptr<const CertificateFacts> cert;   // null: no client certificate
    std::shared_ptr<const Acl> acl;                 // the directory's list as it is now; null: none
    bool acl_unavailable = false;                   // a list is configured but cannot be read: fail closed
    Authentication auth;
};

// Where in a request the device is identified.
enum class Checkpoint {
    // As the request is read, before any <Directory> is known: with the
    // virtual host's own CN pattern and list, and the pins of every list
    // its sections name (a MAC pinned to another certificate anywhere in
    // the host is never named); membership of a list that only a section
    // names is left to the access check there.
    request_read,
    // The access check: the request's directory's CN pattern and list.
    access,
};

// The device on the request's connection, authenticated for `at`. When a
// list cannot be read, no device is authenticated. No certificate: `cert`
// is null and nothing is authenticated.
RequestIdentity identify(request_rec* r, Checkpoint at);

// Only the certificate's facts (the waiver's scope needs no device).
std::shared_ptr<const CertificateFacts> certificate_facts(request_rec* r);

}  // namespace polyprov::glue
