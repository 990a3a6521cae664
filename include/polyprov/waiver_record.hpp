// What a handshake's expiry waiver accepted, kept with the connection and
// its TLS session, so that every request can be checked against the
// virtual host that serves it: a certificate accepted only because one
// virtual host waives expiries must not be served by another that would
// not have accepted it (SNI and Host may name different hosts).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <polyprov/expiry_waiver.hpp>
#include <polyprov/sha256.hpp>
#include <polyprov/trust_anchors.hpp>

namespace polyprov {

struct WaiverRecord {
    bool leaf = false;     // the client certificate's own expiry was waived
    bool ca = false;       // an issuing CA's expiry was waived ("chain")
    Sha256 anchor{};       // the trust anchor the waived chain ended at

    bool waived() const noexcept { return leaf || ca; }
};

// A compact, versioned form for the TLS session's application data, which
// survives session resumption (session cache and tickets). decode() is
// null for anything it did not write.
std::string encode(const WaiverRecord& record);
std::optional<WaiverRecord> decode_waiver_record(std::string_view bytes) noexcept;

// Whether a virtual host with this mode and these anchors waives at least
// what `record` says was waived. A record that waived nothing is served
// anywhere.
bool waiver_covers(ExpiryMode mode, const TrustAnchors* anchors, const WaiverRecord& record) noexcept;

// When the record is unknown (a session resumed from before the module
// kept records) but the certificate has expired now: assume the handshake
// waived what its own host could waive, and serve only where that is
// covered too. `leaf_expired` is the certificate's state now.
bool waiver_covers_unknown(ExpiryMode mode, const TrustAnchors* anchors, ExpiryMode handshake_mode,
                           const TrustAnchors* handshake_anchors, bool leaf_expired) noexcept;

}  // namespace polyprov
