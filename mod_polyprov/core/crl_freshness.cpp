#include <polyprov/crl_freshness.hpp>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <system_error>

#include <openssl/err.h>
#include <openssl/pem.h>

#include <polyprov/duration.hpp>
#include <polyprov/error.hpp>
#include <polyprov/printable.hpp>

#include "pem_block.hpp"
#include "read_file.hpp"

namespace polyprov {
namespace {

using Asn1TimePtr = std::unique_ptr<ASN1_TIME, OpenSslDeleter<ASN1_TIME, ASN1_TIME_free>>;

using detail::PemBlock;

// OpenSSL's hashed-directory lookup opens "%08lx.r%d" for CRLs.
bool is_hashed_crl_name(const std::string& name) {
    if (name.size() < 11 || name.compare(8, 2, ".r") != 0) return false;
    for (std::size_t i = 0; i < 8; ++i)
        if (!((name[i] >= '0' && name[i] <= '9') || (name[i] >= 'a' && name[i] <= 'f'))) return false;
    return std::all_of(name.begin() + 10, name.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::string plural(std::size_t n, const char* one, const char* many) {
    return std::to_string(n) + " " + (n == 1 ? one : many);
}

}  // namespace

std::string asn1_time_iso8601(const ASN1_TIME* time) {
    std::tm tm{};
    if (!time || ASN1_TIME_to_tm(time, &tm) != 1) return "(unreadable date)";
    char buf[64];  // wide enough for any int fields, so nothing truncates
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                  tm.tm_hour, tm.tm_min, tm.tm_sec);
    return buf;
}

std::string name_oneline(const X509_NAME* name) {
    BioPtr bio(BIO_new(BIO_s_mem()));
    // No escaping by OpenSSL: printable() escapes once, as everywhere else.
    const unsigned long flags = XN_FLAG_SEP_CPLUS_SPC | XN_FLAG_FN_SN | ASN1_STRFLGS_UTF8_CONVERT |
                                ASN1_STRFLGS_DUMP_UNKNOWN | ASN1_STRFLGS_DUMP_DER;
    if (!bio || X509_NAME_print_ex(bio.get(), name, 0, flags) < 0) {
        ERR_clear_error();
        return "(unprintable name)";
    }
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio.get(), &data);
    return printable(std::string_view(data, static_cast<std::size_t>(n)));
}

CrlFacts describe_crl(const X509_CRL* crl, std::string origin, std::time_t now) {
    CrlFacts facts;
    facts.origin = std::move(origin);
    facts.issuer = name_oneline(X509_CRL_get_issuer(crl));
    facts.this_update = asn1_time_iso8601(X509_CRL_get0_lastUpdate(crl));
    if (const ASN1_TIME* next = X509_CRL_get0_nextUpdate(crl)) {
        facts.next_update = asn1_time_iso8601(next);
        Asn1TimePtr from(ASN1_TIME_set(nullptr, now));
        int days = 0, seconds = 0;
        if (from && ASN1_TIME_diff(&days, &seconds, from.get(), next) == 1)
            facts.seconds_left = std::int64_t{days} * 86400 + seconds;
        else
            facts.seconds_left = 0;  // an unreadable date: OpenSSL refuses the CRL, so count it as past
        ERR_clear_error();
    }
    // X509_CRL_get_REVOKED takes no const, and only reads.
    const auto* revoked = X509_CRL_get_REVOKED(const_cast<X509_CRL*>(crl));
    facts.entries = revoked ? static_cast<std::size_t>(sk_X509_REVOKED_num(revoked)) : 0;
    return facts;
}

std::vector<X509CrlPtr> parse_pem_crls(std::string_view text, const std::string& origin) {
    std::vector<X509CrlPtr> out;
    BioPtr bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
    if (!bio) throw Error(origin + ": out of memory");
    ERR_clear_error();
    for (int index = 1;; ++index) {
        PemBlock block;
        if (PEM_read_bio(bio.get(), &block.name, &block.header, &block.data, &block.length) <= 0) {
            // "no start line" once only non-PEM text is left; anything else is a damaged block.
            const unsigned long err = ERR_peek_last_error();
            ERR_clear_error();
            if (ERR_GET_LIB(err) == ERR_LIB_PEM && ERR_GET_REASON(err) == PEM_R_NO_START_LINE) break;
            throw Error(origin + ": PEM block " + std::to_string(index) + " is damaged (truncated or bad base64)");
        }
        if (std::strcmp(block.name, PEM_STRING_X509_CRL) != 0) continue;
        const unsigned char* p = block.data;
        X509CrlPtr crl(d2i_X509_CRL(nullptr, &p, block.length));
        if (!crl || p != block.data + block.length) {
            ERR_clear_error();
            throw Error(origin + ": PEM block " + std::to_string(index) + " is not a valid X.509 CRL");
        }
        out.push_back(std::move(crl));
    }
    if (out.empty())
        throw Error(origin + ": holds no PEM CRL (mod_ssl reads PEM; a DER CRL converts with "
                             "openssl crl -inform DER)");
    return out;
}

std::vector<CrlFacts> read_crl_file(const std::string& path, std::time_t now) {
    std::vector<CrlFacts> out;
    for (const auto& crl : parse_pem_crls(detail::read_file(path), path))
        out.push_back(describe_crl(crl.get(), path, now));
    return out;
}

std::vector<CrlFacts> read_crl_directory(const std::string& path, std::time_t now) {
    std::vector<std::string> names;
    std::error_code ec;
    for (std::filesystem::directory_iterator it(path, ec), end; !ec && it != end; it.increment(ec)) {
        const std::string name = it->path().filename().string();
        if (is_hashed_crl_name(name)) names.push_back(name);
    }
    if (ec) throw Error(path + ": cannot be listed: " + ec.message());
    std::sort(names.begin(), names.end());
    std::vector<CrlFacts> out;
    for (const auto& name : names)
        for (auto& facts : read_crl_file((std::filesystem::path(path) / name).string(), now))
            out.push_back(std::move(facts));
    return out;
}

CrlFreshness classify(const CrlFacts& facts, std::int64_t warn_seconds) noexcept {
    if (!facts.seconds_left) return CrlFreshness::fresh;
    if (*facts.seconds_left <= 0) return CrlFreshness::expired;
    return *facts.seconds_left < warn_seconds ? CrlFreshness::expiring : CrlFreshness::fresh;
}

std::string crl_summary(const CrlFacts& facts) {
    return "CRL of \"" + facts.issuer + "\" (" + printable(facts.origin) + "): thisUpdate " + facts.this_update +
           ", nextUpdate " + (facts.next_update.empty() ? std::string("none") : facts.next_update) + ", " +
           plural(facts.entries, "entry", "entries");
}

std::string freshness_note(const CrlFacts& facts, CrlFreshness state) {
    if (!facts.seconds_left) return "no nextUpdate";
    switch (state) {
    case CrlFreshness::expired: return "expired " + format_duration(*facts.seconds_left) + " ago";
    case CrlFreshness::expiring: return "expires in " + format_duration(*facts.seconds_left);
    case CrlFreshness::fresh: break;
    }
    return "valid for " + format_duration(*facts.seconds_left);
}

}  // namespace polyprov
