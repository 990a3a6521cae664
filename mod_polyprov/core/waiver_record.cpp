#include <polyprov/waiver_record.hpp>

namespace polyprov {
namespace {

// "PPW1", flags, anchor: fixed size, so a stranger's data never decodes.
constexpr char kMagic[4] = {'P', 'P', 'W', '1'};
constexpr std::size_t kSize = sizeof kMagic + 1 + 32;
constexpr unsigned char kLeaf = 1, kCa = 2;

bool mode_waives(ExpiryMode mode, bool leaf, bool ca) noexcept {
    if (ca && mode != ExpiryMode::chain) return false;
    if (leaf && mode == ExpiryMode::off) return false;
    return true;
}

}  // namespace

std::string encode(const WaiverRecord& record) {
    std::string out(kMagic, sizeof kMagic);
    out.push_back(static_cast<char>((record.leaf ? kLeaf : 0) | (record.ca ? kCa : 0)));
    out.append(reinterpret_cast<const char*>(record.anchor.data()), record.anchor.size());
    return out;
}

std::optional<WaiverRecord> decode_waiver_record(std::string_view bytes) noexcept {
    if (bytes.size() != kSize || bytes.substr(0, sizeof kMagic) != std::string_view(kMagic, sizeof kMagic))
        return std::nullopt;
    const auto flags = static_cast<unsigned char>(bytes[sizeof kMagic]);
    if (flags & ~(kLeaf | kCa)) return std::nullopt;
    WaiverRecord record;
    record.leaf = flags & kLeaf;
    record.ca = flags & kCa;
    for (std::size_t i = 0; i < record.anchor.size(); ++i)
        record.anchor[i] = static_cast<unsigned char>(bytes[sizeof kMagic + 1 + i]);
    return record;
}

bool waiver_covers(ExpiryMode mode, const TrustAnchors* anchors, const WaiverRecord& record) noexcept {
    if (!record.waived()) return true;
    if (!mode_waives(mode, record.leaf, record.ca)) return false;
    return anchors && anchors->contains(record.anchor);
}

bool waiver_covers_unknown(ExpiryMode mode, const TrustAnchors* anchors, ExpiryMode handshake_mode,
                           const TrustAnchors* handshake_anchors, bool leaf_expired) noexcept {
    // A host that waives nothing waived nothing: a certificate that expired
    // since is served as stock mod_ssl serves a resumed session.
    if (handshake_mode == ExpiryMode::off) return true;
    const bool ca = handshake_mode == ExpiryMode::chain;  // an issuing CA may have been waived
    if (!leaf_expired && !ca) return true;
    if (!mode_waives(mode, leaf_expired, ca)) return false;
    return anchors && handshake_anchors && anchors->includes(*handshake_anchors);
}

}  // namespace polyprov
