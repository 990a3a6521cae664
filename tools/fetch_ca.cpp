// polyprov fetch-ca: Poly's CA certificates, downloaded, checked with the
// module's core and written as the two files a provisioning vhost names.

#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <ctime>
#include <optional>
#include <string>
#include <vector>

#include <polyprov/acl.hpp>
#include <polyprov/ca_bundle.hpp>
#include <polyprov/client_cert.hpp>
#include <polyprov/error.hpp>
#include <polyprov/printable.hpp>

#include "commands.hpp"
#include "http_get.hpp"
#include "write_files.hpp"

namespace polyprov::cli {
namespace {

// Where Poly publishes its device PKI, one DER file per CA. Phones' factory
// certificates chain root -> Equipment Policy CA -> Equipment Issuing CA 1|2.
constexpr const char* kPolyPki = "http://pki.polycom.com/pki/";
constexpr const char* kRootFile = "Polycom Root CA.crt";
constexpr const char* kIntermediateFiles[] = {
    "Polycom Equipment Policy CA.crt",
    "Polycom Equipment Issuing CA 1.crt",
    "Polycom Equipment Issuing CA 2.crt",
};
// The SHA-256 of the root Poly publishes (RSA-4096, 2009-03-09 to 2044-03-09).
// The files come over plain HTTP from a server nothing vouches for, so the
// root is only taken when it is this one or the one --root-sha256 names.
constexpr const char* kPolyRootSha256 = "5A9A1F57090208B9ACDA4F239510153977AEA210897915014D431EFF06601EBE";
constexpr const char* kAnchorFile = "polycom-root.pem";
constexpr const char* kCaFile = "polycom-ca.pem";

// A CA certificate is a few kilobytes; anything far larger is not one.
constexpr std::size_t kMaxDownloadBytes = 64 * 1024;
constexpr int kDefaultTimeoutSeconds = 30;

std::string url_for(std::string base, const std::string& file) {
    if (base.empty() || base.back() != '/') base += '/';
    for (char c : file) base += c == ' ' ? std::string("%20") : std::string(1, c);
    return base;
}

// Each file holds the CA it is named after.
std::string expected_cn(const std::string& file) { return file.substr(0, file.size() - 4); }

void describe(const char* role, const X509* cert, const char* extra) {
    const bool expired = has_expired(cert, std::time(nullptr));
    std::printf("%-14s\"%s\", not after %s%s%s\n", role, printable(subject_common_name(cert)).c_str(),
                not_after_iso8601(cert).c_str(),
                expired ? " (EXPIRED: phones under it need PolyProvAcceptExpired chain)" : "", extra);
}

int usage() {
    std::fprintf(stderr,
                 "usage: polyprov fetch-ca --out DIR [--from URL] [--root-sha256 FINGERPRINT] [--timeout SECONDS]\n"
                 "  the root must have the SHA-256 FINGERPRINT (default: Poly's published \"Polycom Root CA\",\n"
                 "  %s)\n",
                 kPolyRootSha256);
    return 2;
}

}  // namespace

int fetch_ca(const Args& args) {
    Options o;
    if (!parse_options(args, {"--from", "--out", "--root-sha256", "--timeout"}, o) || !o.positional.empty() ||
        !o.get("--out"))
        return usage();
    int timeout = kDefaultTimeoutSeconds;
    if (!timeout_option(o, timeout)) return 2;
    const std::string* pin_option = o.get("--root-sha256");
    const std::optional<Sha256> pin = parse_fingerprint(pin_option ? *pin_option : kPolyRootSha256);
    if (!pin) {
        std::fprintf(stderr, "polyprov: --root-sha256 takes 64 hex digits, optionally colon-separated\n");
        return 2;
    }
    const char* pin_source = pin_option ? "the one --root-sha256 named" : "Poly's published \"Polycom Root CA\"";
    const std::string base = o.get("--from") ? *o.get("--from") : kPolyPki;
    const std::string& out_dir = *o.get("--out");

    std::vector<std::string> files{kRootFile};
    files.insert(files.end(), std::begin(kIntermediateFiles), std::end(kIntermediateFiles));
    std::vector<std::string> urls;
    for (const auto& file : files) urls.push_back(url_for(base, file));
    std::optional<CaBundle> bundle;
    try {
        std::vector<NamedCertificate> certs;
        for (std::size_t i = 0; i < files.size(); ++i) {
            const Download got = http_get_der(urls[i], kMaxDownloadBytes, timeout);
            certs.push_back({urls[i], decode_der_certificate(got.body, got.final_url), expected_cn(files[i])});
        }
        NamedCertificate root = std::move(certs.front());
        certs.erase(certs.begin());
        bundle = CaBundle::check(std::move(root), std::move(certs));
    } catch (const DownloadError& e) {
        std::fprintf(stderr, "polyprov: %s\nnothing written\n", e.what());
        return 2;
    } catch (const Error& e) {
        std::fprintf(stderr, "polyprov: %s\nnothing written\n", e.what());
        return 1;
    }

    const X509* root = bundle->root().cert.get();
    const auto root_digest = certificate_sha256(root);
    if (!root_digest) throw Error("cannot compute the root's SHA-256");
    const Sha256 root_sha256 = *root_digest;
    const bool matched = root_sha256 == *pin;
    describe("root:", root, "");
    std::printf("%-14ssha256 %s%s%s\n", "", fingerprint_hex(root_sha256).c_str(), matched ? ": matches " : "",
                matched ? pin_source : "");
    for (const auto& c : bundle->intermediates()) describe("intermediate:", c.cert.get(), ", chains to the root");
    // Checked after the names and signatures, so that a file holding the
    // wrong certificate is reported as such rather than as a fingerprint.
    if (!matched) {
        std::fprintf(stderr, "polyprov: %s: the root's sha256 is %s, not the expected %s (%s%s)\nnothing written\n",
                     urls[0].c_str(), fingerprint_hex(root_sha256).c_str(), fingerprint_hex(*pin).c_str(), pin_source,
                     pin_option ? "" : "; another root needs --root-sha256");
        return 1;
    }

    try {
        write_files_atomically(out_dir, {{kAnchorFile, bundle->anchor_pem()}, {kCaFile, bundle->ca_pem()}}, 0644);
    } catch (const Error& e) {
        std::fprintf(stderr, "polyprov: %s\n", e.what());  // it says what was left
        return 2;
    }
    std::printf("%-14s%s/%s (PolyProvTrustAnchorFile: the root)\n", "wrote:", out_dir.c_str(), kAnchorFile);
    std::printf("%-14s%s/%s (SSLCACertificateFile: the root and %zu intermediates)\n", "wrote:", out_dir.c_str(),
                kCaFile, bundle->intermediates().size());
    return 0;
}

}  // namespace polyprov::cli
