#include <polyprov/revocation_history.hpp>

#include <algorithm>
#include <array>
#include <vector>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include <polyprov/acl.hpp>
#include <polyprov/crl_freshness.hpp>
#include <polyprov/error.hpp>

#include "hex.hpp"
#include "read_file.hpp"

namespace polyprov {
namespace {

using detail::hex_value;
using Asn1TimePtr = std::unique_ptr<ASN1_TIME, OpenSslDeleter<ASN1_TIME, ASN1_TIME_free>>;

constexpr std::size_t kMaxSerialBytes = 64;  // RFC 5280 allows 20; leave room for the wild, bound the rest

const char* const kHeader =
    "# polyprov revocation history (PolyProvRevocationHistory): every certificate\n"
    "# a verified CRL has listed as revoked, kept after its CA drops the entry.\n"
    "# Written by polyprov fetch-crl --history: entries are added, never removed.\n"
    "# One certificate a line:\n"
    "#   ISSUER-SHA256 SERIAL REVOKED REASON FIRST-SEEN [ISSUER-NAME]\n"
    "# ISSUER-SHA256: SHA-256 of the DER of the issuer's name; SERIAL: the serial\n"
    "# number in hex; REVOKED, FIRST-SEEN: ISO 8601 UTC; REASON: the CRL reason\n"
    "# code or -; ISSUER-NAME: for readers only. # starts a comment line.\n";

// RFC 5280 CRLReason; 7 is unassigned.
const char* const kReasons[] = {"unspecified",         "keyCompromise",  "cACompromise",
                                "affiliationChanged",  "superseded",     "cessationOfOperation",
                                "certificateHold",     nullptr,          "removeFromCRL",
                                "privilegeWithdrawn",  "aACompromise"};
constexpr long kReasonCount = sizeof kReasons / sizeof kReasons[0];

std::string reason_name(long code) {
    if (code < 0) return "-";
    if (code < kReasonCount && kReasons[code]) return kReasons[code];
    return "reason-" + std::to_string(code);
}

bool valid_reason(std::string_view word) {
    if (word == "-") return true;
    for (const char* r : kReasons)
        if (r && word == r) return true;
    if (word.rfind("reason-", 0) != 0 || word.size() < 8 || word.size() > 10) return false;
    return std::all_of(word.begin() + 7, word.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// YYYY-MM-DDTHH:MM:SSZ, a real date (OpenSSL checks the calendar).
bool valid_date(std::string_view text) {
    static const char shape[] = "dddd-dd-ddTdd:dd:ddZ";
    if (text.size() != sizeof shape - 1) return false;
    std::string compact;
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (shape[i] == 'd') {
            if (text[i] < '0' || text[i] > '9') return false;
            compact.push_back(text[i]);
        } else if (text[i] != shape[i]) {
            return false;
        }
    }
    compact.push_back('Z');
    Asn1TimePtr t(ASN1_TIME_new());
    const bool ok = t && ASN1_TIME_set_string_X509(t.get(), compact.c_str()) == 1;
    ERR_clear_error();
    return ok;
}

std::string iso8601(std::time_t when) {
    Asn1TimePtr t(ASN1_TIME_set(nullptr, when));
    return asn1_time_iso8601(t.get());
}

std::string_view magnitude_of(const std::string& key) { return std::string_view(key).substr(33); }

std::string make_key(const unsigned char* issuer, bool negative, const unsigned char* magnitude, std::size_t length) {
    while (length > 0 && *magnitude == 0) {
        ++magnitude;
        --length;
    }
    std::string key;
    key.reserve(33 + length);
    key.append(reinterpret_cast<const char*>(issuer), 32);
    key.push_back(negative && length > 0 ? '\1' : '\0');
    key.append(reinterpret_cast<const char*>(magnitude), length);
    return key;
}

std::string serial_hex(const std::string& key) {
    static const char digits[] = "0123456789ABCDEF";
    const std::string_view magnitude = magnitude_of(key);
    std::string out = key[32] ? "-" : "";
    if (magnitude.empty()) return out + "00";
    for (const unsigned char b : magnitude) {
        out.push_back(digits[b >> 4]);
        out.push_back(digits[b & 0xF]);
    }
    return out;
}

// Hex digits, optionally after "-", into sign and magnitude bytes.
bool parse_serial(std::string_view text, bool& negative, std::string& magnitude) {
    negative = !text.empty() && text.front() == '-';
    if (negative) text.remove_prefix(1);
    if (text.empty() || text.size() > 2 * kMaxSerialBytes) return false;
    magnitude.clear();
    std::size_t i = 0;
    if (text.size() % 2) {
        const int v = hex_value(text[0]);
        if (v < 0) return false;
        magnitude.push_back(static_cast<char>(v));
        i = 1;
    }
    for (; i < text.size(); i += 2) {
        const int hi = hex_value(text[i]), lo = hex_value(text[i + 1]);
        if (hi < 0 || lo < 0) return false;
        magnitude.push_back(static_cast<char>(hi << 4 | lo));
    }
    return true;
}

bool is_blank(char c) noexcept { return c == ' ' || c == '\t'; }

// The first five blank-separated fields, and the rest of the line.
std::vector<std::string_view> split_fields(std::string_view line, std::string_view& rest) {
    std::vector<std::string_view> fields;
    std::size_t i = 0;
    while (fields.size() < 5) {
        while (i < line.size() && is_blank(line[i])) ++i;
        if (i >= line.size()) break;
        const std::size_t start = i;
        while (i < line.size() && !is_blank(line[i])) ++i;
        fields.push_back(line.substr(start, i - start));
    }
    while (i < line.size() && is_blank(line[i])) ++i;
    rest = line.substr(i);
    while (!rest.empty() && is_blank(rest.back())) rest.remove_suffix(1);
    return fields;
}

}  // namespace

RevocationHistory RevocationHistory::parse(std::string_view text, const std::string& origin) {
    RevocationHistory history;
    int number = 0;
    while (!text.empty()) {
        const std::size_t eol = text.find('\n');
        std::string_view line = text.substr(0, eol);
        text = eol == std::string_view::npos ? std::string_view() : text.substr(eol + 1);
        ++number;
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        const std::string where = origin + ":" + std::to_string(number) + ": ";

        std::string_view name;
        const auto fields = split_fields(line, name);
        if (fields.empty() || fields[0].front() == '#') continue;
        if (fields.size() < 5)
            throw Error(where + "expected ISSUER-SHA256 SERIAL REVOKED REASON FIRST-SEEN, found " +
                        std::to_string(fields.size()) + " field" + (fields.size() == 1 ? "" : "s"));
        const auto issuer = parse_fingerprint(fields[0]);
        if (!issuer) throw Error(where + "'" + std::string(fields[0]) + "' is not an issuer SHA-256 (64 hex digits)");
        bool negative = false;
        std::string magnitude;
        if (!parse_serial(fields[1], negative, magnitude))
            throw Error(where + "'" + std::string(fields[1]) + "' is not a serial number (hex digits, at most " +
                        std::to_string(kMaxSerialBytes) + " bytes)");
        for (const std::size_t f : {std::size_t{2}, std::size_t{4}})
            if (!valid_date(fields[f]))
                throw Error(where + "'" + std::string(fields[f]) + "' is not a date (YYYY-MM-DDTHH:MM:SSZ, UTC)");
        if (!valid_reason(fields[3]))
            throw Error(where + "'" + std::string(fields[3]) +
                        "' is not a CRL reason (keyCompromise, superseded, ..., reason-N, or -)");
        for (const unsigned char c : name)
            if (c < 0x20 || c == 0x7f) throw Error(where + "the issuer name holds control characters");

        std::string key = make_key(issuer->data(), negative, reinterpret_cast<const unsigned char*>(magnitude.data()),
                                   magnitude.size());
        Entry entry{fingerprint_hex(*issuer), serial_hex(key), std::string(fields[2]), std::string(fields[3]),
                    std::string(fields[4]), std::string(name), number};
        const auto [it, inserted] = history.entries_.emplace(std::move(key), std::move(entry));
        if (!inserted)
            throw Error(where + "serial " + it->second.serial + " of issuer " + it->second.issuer_sha256.substr(0, 16) +
                        "... is listed twice (first on line " + std::to_string(it->second.line) + ")");
    }
    return history;
}

RevocationHistory RevocationHistory::load_file(const std::string& path) {
    return parse(detail::read_file(path), path);
}

std::string RevocationHistory::key_of(const X509* cert) {
    std::array<unsigned char, EVP_MAX_MD_SIZE> issuer{};
    unsigned int length = 0;
    // Why SHA-256 of the whole DER name: X509_NAME_hash (what hashed
    // CRL directories use) is SHA-1 cut to 32 bits, which collides by
    // design in a file meant to be kept forever. CAs copy their subject
    // into the issuer field of what they sign, byte for byte, so the
    // CRL's issuer and the certificate's issuer hash alike.
    if (X509_NAME_digest(X509_get_issuer_name(cert), EVP_sha256(), issuer.data(), &length) != 1 || length != 32) {
        ERR_clear_error();
        return "";
    }
    const ASN1_INTEGER* serial = X509_get0_serialNumber(cert);
    return make_key(issuer.data(), ASN1_STRING_type(serial) == V_ASN1_NEG_INTEGER, ASN1_STRING_get0_data(serial),
                    static_cast<std::size_t>(ASN1_STRING_length(serial)));
}

std::vector<std::string> RevocationHistory::keys() const {
    std::vector<std::string> out;
    out.reserve(entries_.size());
    for (const auto& [key, entry] : entries_) out.push_back(key);
    return out;
}

bool RevocationHistory::lists(const X509* cert) const noexcept {
    try {
        const std::string key = key_of(cert);
        return key.empty() || entries_.find(key) != entries_.end();
    } catch (...) {
        return true;
    }
}

RevocationHistory::Merged RevocationHistory::merge(const CheckedCrl& checked, std::time_t now) {
    Merged merged;
    const X509_CRL* crl = checked.crl();
    const X509_NAME* issuer_name = X509_CRL_get_issuer(crl);
    std::array<unsigned char, EVP_MAX_MD_SIZE> issuer{};
    unsigned int length = 0;
    if (X509_NAME_digest(issuer_name, EVP_sha256(), issuer.data(), &length) != 1 || length != 32) {
        ERR_clear_error();
        throw Error(checked.origin() + ": cannot hash the CRL's issuer name");
    }
    Sha256 issuer_sha256{};
    std::copy_n(issuer.begin(), 32, issuer_sha256.begin());
    const std::string first_seen = iso8601(now);
    // Trimmed as parse() trims it, so a merged history and its reloaded file serialize alike.
    std::string name = name_oneline(issuer_name);
    name.erase(0, name.find_first_not_of(" \t"));
    name.erase(name.find_last_not_of(" \t") + 1);

    const auto* revoked = X509_CRL_get_REVOKED(const_cast<X509_CRL*>(crl));
    for (int i = 0; i < sk_X509_REVOKED_num(revoked); ++i) {
        const X509_REVOKED* entry = sk_X509_REVOKED_value(revoked, i);
        const ASN1_INTEGER* serial = X509_REVOKED_get0_serialNumber(entry);
        std::string key =
            make_key(issuer.data(), ASN1_STRING_type(serial) == V_ASN1_NEG_INTEGER, ASN1_STRING_get0_data(serial),
                     static_cast<std::size_t>(ASN1_STRING_length(serial)));
        const std::string date = asn1_time_iso8601(X509_REVOKED_get0_revocationDate(entry));
        if (!valid_date(date))
            throw Error(checked.origin() + ": the entry for serial " + serial_hex(key) +
                        " has an unreadable revocation date");
        auto* code = static_cast<ASN1_ENUMERATED*>(X509_REVOKED_get_ext_d2i(entry, NID_crl_reason, nullptr, nullptr));
        const std::string reason = reason_name(code ? ASN1_ENUMERATED_get(code) : -1);
        ASN1_ENUMERATED_free(code);
        ERR_clear_error();

        const auto it = entries_.find(key);
        if (it == entries_.end()) {
            Entry e{fingerprint_hex(issuer_sha256), serial_hex(key), date, reason, first_seen, name, 0};
            entries_.emplace(std::move(key), std::move(e));
            ++merged.added;
        } else if (it->second.revoked != date || it->second.reason != reason) {
            it->second.revoked = date;
            it->second.reason = reason;
            ++merged.updated;
        }
    }
    return merged;
}

std::string RevocationHistory::serialize() const {
    std::vector<const std::pair<const std::string, Entry>*> sorted;
    sorted.reserve(entries_.size());
    for (const auto& e : entries_) sorted.push_back(&e);
    // By issuer, then sign, then the serial as a number.
    std::sort(sorted.begin(), sorted.end(), [](const auto* a, const auto* b) {
        const std::string& x = a->first;
        const std::string& y = b->first;
        if (int c = x.compare(0, 33, y, 0, 33)) return c < 0;
        if (x.size() != y.size()) return x.size() < y.size();
        return x < y;
    });
    std::string out = kHeader;
    for (const auto* p : sorted) {
        const Entry& e = p->second;
        out += e.issuer_sha256 + " " + e.serial + " " + e.revoked + " " + e.reason + " " + e.first_seen;
        if (!e.issuer_name.empty()) out += " " + e.issuer_name;
        out += "\n";
    }
    return out;
}

}  // namespace polyprov
