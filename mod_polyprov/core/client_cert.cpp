#include <polyprov/client_cert.hpp>

#include <cstdio>

#include <openssl/asn1.h>
#include <openssl/evp.h>
#include <openssl/err.h>
#include <openssl/pem.h>

namespace polyprov {

X509Ptr parse_pem_certificate(std::string_view pem) noexcept {
    if (pem.empty()) return nullptr;
    BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    if (!bio) return nullptr;
    X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (!cert) ERR_clear_error();
    return cert;
}

bool has_expired(const X509* cert, std::time_t now) noexcept {
    std::time_t t = now;
    // X509_cmp_time: -1 when notAfter is before t (expired), 0 on error.
    // An unreadable date counts as expired: never report a bad date as fresh.
    return X509_cmp_time(X509_get0_notAfter(cert), &t) <= 0;
}

std::string subject_common_name(const X509* cert) {
    const X509_NAME* name = X509_get_subject_name(cert);
    int last = -1;
    for (int i = X509_NAME_get_index_by_NID(name, NID_commonName, -1); i >= 0;
         i = X509_NAME_get_index_by_NID(name, NID_commonName, i))
        last = i;
    if (last < 0) return {};
    const ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, last));
    unsigned char* utf8 = nullptr;
    const int len = ASN1_STRING_to_UTF8(&utf8, data);
    if (len < 0) return {};
    std::string out(reinterpret_cast<char*>(utf8), static_cast<std::size_t>(len));
    OPENSSL_free(utf8);
    return out;
}

std::string not_after_iso8601(const X509* cert) {
    std::tm tm{};
    if (ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) != 1) return "(unreadable date)";
    char buf[64];  // wide enough for any int fields, so nothing truncates
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                  tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    return buf;
}

}  // namespace polyprov

namespace polyprov {

std::array<unsigned char, 32> certificate_sha256(const X509* cert) noexcept {
    std::array<unsigned char, 32> out{};
    unsigned int len = 0;
    if (!X509_digest(cert, EVP_sha256(), out.data(), &len) || len != out.size()) out.fill(0);
    return out;
}

}  // namespace polyprov
