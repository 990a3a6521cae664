// polyprov check-cert: what the module would decide for a phone certificate.
// It runs the module's own waiver over OpenSSL's verification, as mod_ssl
// does in a handshake, and the module's own access decision.

#include <cstdio>
#include <ctime>
#include <fstream>
#include <sstream>
#include <vector>

#include <openssl/pem.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <polyprov/authentication.hpp>
#include <polyprov/acl.hpp>
#include <polyprov/client_cert.hpp>
#include <polyprov/crl_freshness.hpp>
#include <polyprov/error.hpp>
#include <polyprov/expiry_waiver.hpp>
#include <polyprov/printable.hpp>
#include <polyprov/trust_anchors.hpp>

#include "commands.hpp"

namespace polyprov::cli {
namespace {

std::vector<X509Ptr> read_certificates(const std::string& path) {
    BioPtr bio(BIO_new_file(path.c_str(), "r"));
    if (!bio) throw Error(path + ": cannot be read");
    std::vector<X509Ptr> out;
    while (X509* c = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) out.emplace_back(c);
    if (out.empty()) throw Error(path + ": holds no PEM certificate");
    return out;
}

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error(path + ": cannot be read");
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

struct Waived {
    bool any = false;
    int depth = -1;
};

void note_waiver(const WaivedExpiry& event, void* user) noexcept {
    auto* w = static_cast<Waived*>(user);
    w->any = event.waived_count > 0;
    w->depth = event.expired_depth;
}

}  // namespace

int check_cert(const Args& args) {
    Options o;
    if (!parse_options(args, {"--anchors", "--ca", "--chain", "--mode", "--acl"}, o) || o.positional.size() != 1 ||
        !o.get("--anchors")) {
        std::fputs("usage: polyprov check-cert CERT.pem --anchors FILE [--ca FILE] [--chain FILE] "
                   "[--mode leaf|chain] [--acl FILE]\n", stderr);
        return 2;
    }
    const auto mode = parse_expiry_mode(o.get("--mode") ? *o.get("--mode") : "leaf");
    if (!mode) {
        std::fputs("polyprov: --mode is off, leaf or chain\n", stderr);
        return 2;
    }
    std::vector<X509Ptr> certs = read_certificates(o.positional[0]);
    if (const std::string* chain = o.get("--chain"))
        for (auto& c : read_certificates(*chain)) certs.push_back(std::move(c));
    const TrustAnchors anchors = TrustAnchors::load_pem_file(*o.get("--anchors"));
    const std::string trusted = o.get("--ca") ? *o.get("--ca") : *o.get("--anchors");
    std::optional<Acl> acl;
    if (const std::string* path = o.get("--acl")) acl = Acl::parse(read_file(*path), *path);

    X509* leaf = certs.front().get();
    const std::optional<std::string> cn = single_common_name(leaf);
    const MacPattern pattern = MacPattern::compile(MacPattern::kDefault);
    const auto mac = claimed_mac(cn, pattern);
    const auto fingerprint = certificate_sha256(leaf);
    const bool expired = has_expired(leaf, std::time(nullptr));
    if (cn)
        std::printf("certificate:  CN \"%s\"\n", printable(*cn).c_str());
    else
        std::printf("certificate:  no single valid CN (none, several, or one with control characters): \"%s\"\n",
                    printable(subject_common_name(leaf)).c_str());
    std::printf("MAC:          %s\n", mac ? mac->str().c_str() : "none (the CN names no single MAC)");
    std::printf("not after:    %s%s\n", not_after_iso8601(leaf).c_str(), expired ? " (expired)" : "");
    std::printf("sha256:       %s\n", fingerprint ? fingerprint_hex(*fingerprint).c_str() : "(cannot be computed)");

    // The verification a handshake would make, through the module's waiver.
    X509_STORE* store = X509_STORE_new();
    if (!store || X509_STORE_load_file(store, trusted.c_str()) != 1) {
        X509_STORE_free(store);
        throw Error(trusted + ": cannot be loaded as trusted certificates");
    }
    STACK_OF(X509)* untrusted = sk_X509_new_null();
    for (std::size_t i = 1; i < certs.size(); ++i) sk_X509_push(untrusted, certs[i].get());
    X509_STORE_CTX* ctx = X509_STORE_CTX_new();
    X509_STORE_CTX_init(ctx, store, leaf, untrusted);
    X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT);
    Waived waived;
    const ExpiryWaiver waiver(*mode, &anchors, &note_waiver, &waived);
    const bool verified = ExpiryWaiver::verify(ctx, const_cast<ExpiryWaiver*>(&waiver)) == 1;
    const int error = X509_STORE_CTX_get_error(ctx), depth = X509_STORE_CTX_get_error_depth(ctx);
    // A CA of the same name with another key (an impostor, or another PKI
    // shaped like Poly's) fails here too: the names tell which link is missing.
    std::string missing_issuer;
    if (const X509* stuck = X509_STORE_CTX_get_current_cert(ctx);
        stuck && (error == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT ||
                  error == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY))
        missing_issuer = "; no trusted certificate \"" + name_oneline(X509_get_issuer_name(stuck)) +
                         "\" signed \"" + name_oneline(X509_get_subject_name(stuck)) + "\"";
    X509_STORE_CTX_free(ctx);
    sk_X509_free(untrusted);
    X509_STORE_free(store);

    if (verified && waived.any)
        std::printf("chain:        verifies with the expiry of the %s waived (PolyProvAcceptExpired %s): "
                    "SSL_CLIENT_VERIFY=SUCCESS\n", waived.depth == 0 ? "certificate" : "issuing CA", to_string(*mode));
    else if (verified)
        std::printf("chain:        verifies: SSL_CLIENT_VERIFY=SUCCESS\n");
    else
        std::printf("chain:        does not verify: %s (depth %d)%s%s\n", X509_verify_cert_error_string(error), depth,
                    error == X509_V_ERR_CERT_HAS_EXPIRED && *mode == ExpiryMode::leaf && depth > 0
                        ? "; an expired issuing CA needs PolyProvAcceptExpired chain"
                        : "",
                    missing_issuer.c_str());

    PresentedCertificate presented;
    presented.present = true;
    presented.verified = verified;
    presented.claimed = mac;
    presented.fingerprint = [&fingerprint] { return fingerprint; };
    const Authentication d = authenticate(presented, acl ? &*acl : nullptr);
    if (acl) {
        if (d.entry)
            std::printf("ACL:          listed on line %d%s%s\n", d.entry->line(),
                        d.entry->has_label() ? (", label \"" + printable(d.entry->label()) + "\"").c_str() : "",
                        d.entry->pin() ? (fingerprint && *d.entry->pin() == *fingerprint ? ", pinned: this certificate"
                                                                                       : ", pinned: ANOTHER certificate")
                                       : "");
        else
            std::printf("ACL:          not listed\n");
    }
    std::printf("decision:     %s%s%s\n", decision_string(d.denial), d.detail.empty() ? "" : " (",
                d.detail.empty() ? "" : (d.detail + ")").c_str());
    return d.denial == Denial::none ? 0 : 1;
}

}  // namespace polyprov::cli
