// Poly publishes its root and intermediate CA certificates one file each.
// CaBundle checks such a set and renders the two files a provisioning vhost
// needs; fetching the files is the caller's business.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <polyprov/openssl_ptr.hpp>

namespace polyprov {

struct NamedCertificate {
    std::string origin;  // where it came from (a URL or a path), for messages
    X509Ptr cert;
    std::string expected_cn = {};  // the subject CN it must carry; empty: any
};

// The certificate in a downloaded file, DER as Poly publishes it. Throws
// Error naming `origin` when the bytes are not exactly one certificate.
X509Ptr decode_der_certificate(std::string_view bytes, const std::string& origin);

class CaBundle {
public:
    // Throws Error naming the certificate at fault unless `root` is a CA
    // certificate (basicConstraints CA:TRUE) signed by its own key, and each
    // intermediate is a distinct CA certificate whose path, through the other
    // intermediates, ends at `root` (signatures, names, CA constraints, path
    // lengths); each must carry its expected CN and be fit to issue TLS
    // client certificates, as mod_ssl will require. Validity dates are not
    // checked: an expired issuing CA is what PolyProvAcceptExpired chain is
    // for, so callers report expiry instead of refusing it.
    static CaBundle check(NamedCertificate root, std::vector<NamedCertificate> intermediates);

    const NamedCertificate& root() const noexcept { return root_; }
    const std::vector<NamedCertificate>& intermediates() const noexcept { return intermediates_; }

    // PolyProvTrustAnchorFile: the root alone.
    std::string anchor_pem() const;
    // SSLCACertificateFile: the root, then the intermediates in given order.
    std::string ca_pem() const;

private:
    CaBundle(NamedCertificate root, std::vector<NamedCertificate> intermediates);
    NamedCertificate root_;
    std::vector<NamedCertificate> intermediates_;
};

}  // namespace polyprov
