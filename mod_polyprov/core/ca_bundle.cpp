#include <polyprov/ca_bundle.hpp>

#include <memory>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <polyprov/acl.hpp>
#include <polyprov/client_cert.hpp>
#include <polyprov/error.hpp>
#include <polyprov/printable.hpp>
#include <polyprov/trust_anchors.hpp>

namespace polyprov {
namespace {

using StorePtr = std::unique_ptr<X509_STORE, OpenSslDeleter<X509_STORE, X509_STORE_free>>;
using StoreCtxPtr = std::unique_ptr<X509_STORE_CTX, OpenSslDeleter<X509_STORE_CTX, X509_STORE_CTX_free>>;

struct StackDeleter {
    void operator()(STACK_OF(X509) * s) const noexcept { sk_X509_free(s); }  // not the certificates
};
using X509StackPtr = std::unique_ptr<STACK_OF(X509), StackDeleter>;

std::string quoted_cn(const X509* cert) {
    const std::string cn = subject_common_name(cert);
    return cn.empty() ? std::string("(no CN)") : '"' + printable(cn) + '"';
}

void require_fit_ca(const NamedCertificate& c) {
    X509* cert = c.cert.get();
    if (!c.expected_cn.empty() && subject_common_name(cert) != c.expected_cn)
        throw Error(c.origin + ": holds " + quoted_cn(cert) + ", not \"" + printable(c.expected_cn) + "\"");
    // 1 is an explicit CA:TRUE; OpenSSL's other "yes" answers (a v1
    // self-signed certificate, keyCertSign alone) are not what Poly issues.
    if (X509_check_ca(cert) != 1)
        throw Error(c.origin + ": " + quoted_cn(cert) + " is not a CA certificate (no CA:TRUE basic constraint)");
    if (X509_check_purpose(cert, X509_PURPOSE_SSL_CLIENT, 1) != 1) {
        ERR_clear_error();
        throw Error(c.origin + ": " + quoted_cn(cert) +
                    " may not issue TLS client certificates (its extended key usage excludes clientAuth)");
    }
}

std::string chain_error(X509_STORE* store, STACK_OF(X509) * untrusted, X509* target) {
    StoreCtxPtr ctx(X509_STORE_CTX_new());
    if (!ctx || X509_STORE_CTX_init(ctx.get(), store, target, untrusted) != 1) return "out of memory";
    X509_VERIFY_PARAM_set_flags(X509_STORE_CTX_get0_param(ctx.get()), X509_V_FLAG_NO_CHECK_TIME);
    if (X509_verify_cert(ctx.get()) == 1) return {};
    const int error = X509_STORE_CTX_get_error(ctx.get());
    ERR_clear_error();
    return std::string(X509_verify_cert_error_string(error)) + " (depth " +
           std::to_string(X509_STORE_CTX_get_error_depth(ctx.get())) + ")";
}

void append_pem(std::string& out, const X509* cert) {
    const auto digest = certificate_sha256(cert);
    if (!digest) throw Error("cannot compute a certificate's SHA-256");
    out += "# " + printable(subject_common_name(cert)) + ", not after " + not_after_iso8601(cert) + ", sha256 " +
           fingerprint_hex(*digest) + "\n";
    BioPtr bio(BIO_new(BIO_s_mem()));
    if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1) throw Error("out of memory writing PEM");
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio.get(), &data);
    out.append(data, static_cast<std::size_t>(n));
}

}  // namespace

X509Ptr decode_der_certificate(std::string_view bytes, const std::string& origin) {
    if (bytes.empty()) throw Error(origin + ": is empty");
    const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
    const auto* const end = p + bytes.size();
    X509Ptr cert(d2i_X509(nullptr, &p, static_cast<long>(bytes.size())));
    ERR_clear_error();
    if (!cert) throw Error(origin + ": is not a DER certificate");
    if (p != end) throw Error(origin + ": has " + std::to_string(end - p) + " bytes after the certificate");
    return cert;
}

CaBundle::CaBundle(NamedCertificate root, std::vector<NamedCertificate> intermediates)
    : root_(std::move(root)), intermediates_(std::move(intermediates)) {}

CaBundle CaBundle::check(NamedCertificate root, std::vector<NamedCertificate> intermediates) {
    require_fit_ca(root);
    X509* r = root.cert.get();
    if (X509_check_issued(r, r) != X509_V_OK)
        throw Error(root.origin + ": " + quoted_cn(r) + " is not self-signed, so it cannot be the root");
    if (X509_verify(r, X509_get0_pubkey(r)) != 1) {
        ERR_clear_error();
        throw Error(root.origin + ": " + quoted_cn(r) + " has a self-signature that does not verify");
    }

    StorePtr store(X509_STORE_new());
    X509StackPtr untrusted(sk_X509_new_null());
    if (!store || !untrusted || X509_STORE_add_cert(store.get(), r) != 1) throw Error("out of memory");
    for (std::size_t i = 0; i < intermediates.size(); ++i) {
        const auto& c = intermediates[i];
        require_fit_ca(c);
        if (X509_cmp(c.cert.get(), r) == 0) throw Error(c.origin + ": is the root again, not an intermediate");
        for (std::size_t j = 0; j < i; ++j)
            if (X509_cmp(c.cert.get(), intermediates[j].cert.get()) == 0)
                throw Error(c.origin + ": is the same certificate as " + intermediates[j].origin);
        if (!sk_X509_push(untrusted.get(), c.cert.get())) throw Error("out of memory");
    }
    for (const auto& c : intermediates) {
        const std::string why = chain_error(store.get(), untrusted.get(), c.cert.get());
        if (!why.empty())
            throw Error(c.origin + ": " + quoted_cn(c.cert.get()) + " does not chain to the root " + quoted_cn(r) +
                        ": " + why);
    }

    CaBundle bundle(std::move(root), std::move(intermediates));
    // The anchor file must load the way PolyProvTrustAnchorFile loads it.
    TrustAnchors::from_pem(bundle.anchor_pem(), bundle.root_.origin);
    return bundle;
}

std::string CaBundle::anchor_pem() const {
    std::string out;
    append_pem(out, root_.cert.get());
    return out;
}

std::string CaBundle::ca_pem() const {
    std::string out;
    append_pem(out, root_.cert.get());
    for (const auto& c : intermediates_) append_pem(out, c.cert.get());
    return out;
}

}  // namespace polyprov
