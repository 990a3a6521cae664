// The certificate policy behind PolyProvAcceptExpired: which OpenSSL verify
// errors are waived for which chain. Only "certificate has expired" is ever
// waived, and only for a chain that is otherwise sound and ends in a trust
// anchor; every other fault reaches the inner verify callback (mod_ssl's)
// exactly as OpenSSL reported it.
#pragma once

#include <optional>
#include <string_view>

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <polyprov/trust_anchors.hpp>

namespace polyprov {

enum class ExpiryMode {
    off,    // waive nothing
    leaf,   // an expired leaf under valid CAs
    chain,  // expired intermediate CAs too (never the anchor itself)
};

std::optional<ExpiryMode> parse_expiry_mode(std::string_view word) noexcept;
const char* to_string(ExpiryMode mode) noexcept;

// What a handshake's verification waived, reported whenever it has
// succeeded (waived_count 0: nothing was waived).
struct WaivedExpiry {
    SSL* ssl;              // the connection, or null outside a handshake
    const X509* leaf;      // the client certificate
    const X509* expired;   // the deepest-in-chain certificate whose expiry was waived
    int expired_depth;     // its depth (0 = leaf)
    int waived_count;      // how many certificates of the chain had expired
    bool leaf_waived;      // the client certificate's own expiry was waived
    bool ca_waived;        // an issuing CA's expiry was waived
    const X509* anchor;    // the trust anchor the chain ended at
};

using WaiverListener = void (*)(const WaivedExpiry& event, void* user) noexcept;

// Consulted before an expiry is waived: true forbids it (the certificate is
// in the revocation history). Runs during handshakes: must be cheap.
using WaiverVeto = bool (*)(const X509* expired, void* user) noexcept;

class ExpiryWaiver {
public:
    // `anchors` is not owned and must outlive the waiver; null waives nothing.
    ExpiryWaiver(ExpiryMode mode, const TrustAnchors* anchors,
                 WaiverListener listener = nullptr, void* listener_user = nullptr);

    // Installs a veto; call before install().
    void set_veto(WaiverVeto veto, void* user) noexcept {
        veto_ = veto;
        veto_user_ = user;
    }

    // The waiver installed on `ctx`, or null.
    static const ExpiryWaiver* installed_on(const SSL_CTX* ctx) noexcept;

    // Makes `ctx` verify peers through this waiver. The waiver must outlive
    // the SSL_CTX's use. A mode of off installs nothing.
    void install(SSL_CTX* ctx) const noexcept;

    // One X509_verify_cert pass over `store`, with the store's verify
    // callback wrapped so that waivable expiries reach it as successes.
    // The signature of SSL_CTX_set_cert_verify_callback's callback.
    static int verify(X509_STORE_CTX* store, void* waiver) noexcept;

    ExpiryMode mode() const noexcept { return mode_; }
    const TrustAnchors* anchors() const noexcept { return anchors_; }

private:
    struct Run;
    static int on_verify_step(int ok, X509_STORE_CTX* store) noexcept;
    bool may_waive(int error, int depth, X509_STORE_CTX* store) const noexcept;

    ExpiryMode mode_;
    const TrustAnchors* anchors_;
    WaiverListener listener_;
    void* listener_user_;
    WaiverVeto veto_ = nullptr;
    void* veto_user_ = nullptr;
};

}  // namespace polyprov
