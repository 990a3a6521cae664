#include <polyprov/client_cert.hpp>

#include <cstdio>

#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "utf8.hpp"

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

std::optional<std::time_t> not_after(const X509* cert) noexcept {
    std::tm tm{};
    if (ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) != 1) return std::nullopt;
    return timegm(&tm);
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

namespace {

bool is_printable_string_char(unsigned char c) noexcept {
    // X.680's PrintableString: letters, digits, space and '()+,-./:=?
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == ' ' || c == '\'' ||
           c == '(' || c == ')' || c == '+' || c == ',' || c == '-' || c == '.' || c == '/' || c == ':' || c == '=' ||
           c == '?';
}

bool all_bytes(const ASN1_STRING* s, bool (*ok)(unsigned char)) noexcept {
    const unsigned char* p = ASN1_STRING_get0_data(s);
    for (int i = 0; i < ASN1_STRING_length(s); ++i)
        if (!ok(p[i])) return false;
    return true;
}

// The raw bytes obey the declared type. UTF8String is checked after the
// conversion below; the wide types are checked by the conversion itself.
bool valid_for_type(const ASN1_STRING* s) noexcept {
    switch (ASN1_STRING_type(s)) {
    case V_ASN1_PRINTABLESTRING: return all_bytes(s, is_printable_string_char);
    case V_ASN1_IA5STRING: return all_bytes(s, [](unsigned char c) { return c < 0x80; });
    // TeletexString has no agreed character set: only its ASCII subset is
    // read the same way by everyone.
    case V_ASN1_T61STRING:
    case V_ASN1_VISIBLESTRING: return all_bytes(s, [](unsigned char c) { return c >= 0x20 && c < 0x7f; });
    case V_ASN1_UTF8STRING: return true;
    case V_ASN1_BMPSTRING: return ASN1_STRING_length(s) % 2 == 0;
    case V_ASN1_UNIVERSALSTRING: return ASN1_STRING_length(s) % 4 == 0;
    default: return false;
    }
}

}  // namespace

std::optional<std::string> single_common_name(const X509* cert) {
    const X509_NAME* name = X509_get_subject_name(cert);
    const int first = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
    if (first < 0 || X509_NAME_get_index_by_NID(name, NID_commonName, first) >= 0) return std::nullopt;
    const ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, first));
    if (!data || !valid_for_type(data)) return std::nullopt;
    unsigned char* utf8 = nullptr;
    const int len = ASN1_STRING_to_UTF8(&utf8, data);
    if (len < 0) {
        ERR_clear_error();
        return std::nullopt;
    }
    std::string out(reinterpret_cast<char*>(utf8), static_cast<std::size_t>(len));
    OPENSSL_free(utf8);
    if (!detail::is_text_utf8(out)) return std::nullopt;
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

std::optional<Sha256> certificate_sha256(const X509* cert) noexcept {
    Sha256 out{};
    unsigned int len = 0;
    if (!cert || !X509_digest(cert, EVP_sha256(), out.data(), &len) || len != out.size()) {
        ERR_clear_error();
        return std::nullopt;
    }
    return out;
}

}  // namespace polyprov
