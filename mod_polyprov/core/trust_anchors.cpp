#include <polyprov/trust_anchors.hpp>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <polyprov/client_cert.hpp>
#include <polyprov/error.hpp>

#include "pem_block.hpp"

namespace polyprov {
namespace {

using detail::PemBlock;

bool at_clean_end_of_input() {
    // PEM_read_bio fails with "no start line" once only non-PEM text is
    // left; anything else is a damaged block.
    const unsigned long err = ERR_peek_last_error();
    const bool clean = ERR_GET_LIB(err) == ERR_LIB_PEM && ERR_GET_REASON(err) == PEM_R_NO_START_LINE;
    ERR_clear_error();
    return clean;
}

}  // namespace

TrustAnchors TrustAnchors::load_pem_file(const std::string& path) {
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) throw Error(path + ": is a directory, not a PEM file");
    ERR_clear_error();
    BioPtr bio(BIO_new_file(path.c_str(), "r"));
    if (!bio) {
        const int saved = errno;
        ERR_clear_error();
        throw Error(path + ": cannot be read: " + std::strerror(saved ? saved : ENOENT));
    }
    return read(bio.get(), path);
}

TrustAnchors TrustAnchors::from_pem(std::string_view pem, const std::string& origin) {
    BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    if (!bio) throw Error(origin + ": out of memory");
    return read(bio.get(), origin);
}

TrustAnchors TrustAnchors::read(BIO* bio, const std::string& origin) {
    TrustAnchors out;
    ERR_clear_error();
    for (int index = 1;; ++index) {
        PemBlock block;
        if (PEM_read_bio(bio, &block.name, &block.header, &block.data, &block.length) <= 0) {
            if (at_clean_end_of_input()) break;
            throw Error(origin + ": PEM block " + std::to_string(index) + " is damaged (truncated or bad base64)");
        }
        const std::string where = origin + ": PEM block " + std::to_string(index);
        if (std::strcmp(block.name, PEM_STRING_X509) != 0)
            throw Error(where + " is a \"" + block.name + "\", not a CERTIFICATE");
        const unsigned char* p = block.data;
        X509Ptr cert(d2i_X509(nullptr, &p, block.length));
        if (!cert || p != block.data + block.length) {
            ERR_clear_error();
            throw Error(where + " is not a valid X.509 certificate");
        }
        if (X509_check_ca(cert.get()) == 0)
            throw Error(where + " is not a CA certificate; list the root CA(s) the phones chain to");
        const auto fingerprint = certificate_sha256(cert.get());
        if (!fingerprint) throw Error(where + ": cannot compute its SHA-256");
        out.anchors_.push_back(std::move(cert));
        out.fingerprints_.push_back(*fingerprint);
    }
    if (out.anchors_.empty())
        throw Error(origin + ": holds no PEM certificate (expected -----BEGIN CERTIFICATE----- blocks)");
    return out;
}

bool TrustAnchors::contains(const X509* cert) const noexcept {
    if (!cert) return false;
    for (const auto& anchor : anchors_)
        if (X509_cmp(anchor.get(), cert) == 0) return true;
    return false;
}

bool TrustAnchors::contains(const Sha256& fingerprint) const noexcept {
    for (const auto& fp : fingerprints_)
        if (fp == fingerprint) return true;
    return false;
}

bool TrustAnchors::includes(const TrustAnchors& other) const noexcept {
    for (const auto& fp : other.fingerprints_)
        if (!contains(fp)) return false;
    return true;
}

}  // namespace polyprov
