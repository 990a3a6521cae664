// The roots whose chains may have an expiry waived (PolyProvTrustAnchorFile).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include <polyprov/openssl_ptr.hpp>
#include <polyprov/sha256.hpp>

namespace polyprov {

class TrustAnchors {
public:
    // Reads PEM CA certificates. Throws Error naming `path` when the file
    // cannot be read, holds no certificate, or holds any PEM block that is
    // not a CA certificate (a key, a CSR, a leaf pasted by mistake).
    static TrustAnchors load_pem_file(const std::string& path);

    // Same rules for PEM text; `origin` names it in error messages.
    static TrustAnchors from_pem(std::string_view pem, const std::string& origin);

    // True when `cert` is, byte for byte, one of the anchors.
    bool contains(const X509* cert) const noexcept;
    // True when an anchor's DER has this SHA-256.
    bool contains(const Sha256& fingerprint) const noexcept;
    // True when every anchor of `other` is one of these.
    bool includes(const TrustAnchors& other) const noexcept;

    std::size_t size() const noexcept { return anchors_.size(); }
    // In file order (polyprov fetch-crl reads a CA bundle's distribution points).
    const std::vector<X509Ptr>& certificates() const noexcept { return anchors_; }

private:
    static TrustAnchors read(BIO* bio, const std::string& origin);
    std::vector<X509Ptr> anchors_;
    std::vector<Sha256> fingerprints_;   // of anchors_, in the same order
};

}  // namespace polyprov
