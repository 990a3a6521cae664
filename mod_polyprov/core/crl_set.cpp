#include <polyprov/crl_set.hpp>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <polyprov/client_cert.hpp>
#include <polyprov/crl_freshness.hpp>
#include <polyprov/duration.hpp>
#include <polyprov/error.hpp>
#include <polyprov/printable.hpp>

namespace polyprov {
namespace {

using DistPointsPtr = std::unique_ptr<CRL_DIST_POINTS, OpenSslDeleter<CRL_DIST_POINTS, CRL_DIST_POINTS_free>>;
using IssuingDistPointPtr =
    std::unique_ptr<ISSUING_DIST_POINT, OpenSslDeleter<ISSUING_DIST_POINT, ISSUING_DIST_POINT_free>>;

std::string quoted(const X509_NAME* name) { return '"' + name_oneline(name) + '"'; }

bool http_url(const std::string& url) {
    return url.rfind("http://", 0) == 0 || url.rfind("https://", 0) == 0;
}

void add_source(std::vector<CrlSource>& out, std::string url, const X509* cert) {
    const X509_NAME* expected = X509_get_issuer_name(cert);
    const std::string by = '"' + printable(subject_common_name(cert)) + '"';
    for (auto& s : out) {
        if (s.url != url) continue;
        bool known = false;
        for (const auto& n : s.expected_issuers) known = known || X509_NAME_cmp(n.get(), expected) == 0;
        if (!known) s.expected_issuers.emplace_back(X509_NAME_dup(expected));
        s.named_by += ", " + by;
        return;
    }
    CrlSource s{std::move(url), {}, by};
    s.expected_issuers.emplace_back(X509_NAME_dup(expected));
    out.push_back(std::move(s));
}

std::string der_of(const X509_CRL* crl) {
    unsigned char* der = nullptr;
    const int n = i2d_X509_CRL(crl, &der);
    if (n <= 0) throw Error("out of memory encoding a CRL");
    std::string out(reinterpret_cast<char*>(der), static_cast<std::size_t>(n));
    OPENSSL_free(der);
    return out;
}

// X509_CRL_match compares a digest OpenSSL keeps only for decoded CRLs.
bool same_crl(const X509_CRL* a, const X509_CRL* b) { return der_of(a) == der_of(b); }

bool names_match(const std::vector<X509NamePtr>& names, const X509_NAME* name) {
    for (const auto& n : names)
        if (n && X509_NAME_cmp(n.get(), name) == 0) return true;
    return false;
}

// OpenSSL refuses a CRL with a critical extension it does not implement
// (X509_V_ERR_UNHANDLED_CRITICAL_CRL_EXTENSION), so mod_ssl would refuse
// every phone it covers. Entries that name another certificate issuer
// (an indirect CRL) would be recorded under the wrong issuer.
void require_plain_form(const X509_CRL* crl, const std::string& origin) {
    for (int i = 0; i < X509_CRL_get_ext_count(crl); ++i) {
        X509_EXTENSION* ext = X509_CRL_get_ext(crl, i);  // get_object takes no const
        const int nid = OBJ_obj2nid(X509_EXTENSION_get_object(ext));
        if (nid == NID_delta_crl) throw Error(origin + ": is a delta CRL; name the complete CRL instead");
        if (X509_EXTENSION_get_critical(ext) && nid != NID_issuing_distribution_point &&
            nid != NID_authority_key_identifier)
            throw Error(origin + ": has a critical extension OpenSSL does not handle (" +
                        (nid == NID_undef ? std::string("unknown") : OBJ_nid2sn(nid)) +
                        "): mod_ssl would refuse every phone this CRL covers");
    }
    if (X509_CRL_get_ext_by_NID(crl, NID_issuing_distribution_point, -1) >= 0) {
        IssuingDistPointPtr idp(
            static_cast<ISSUING_DIST_POINT*>(X509_CRL_get_ext_d2i(crl, NID_issuing_distribution_point, nullptr, nullptr)));
        ERR_clear_error();
        if (!idp) throw Error(origin + ": has an unreadable issuing distribution point");
        if (idp->indirectCRL) throw Error(origin + ": is an indirect CRL (entries of other issuers), not supported");
    }
    const auto* revoked = X509_CRL_get_REVOKED(const_cast<X509_CRL*>(crl));
    for (int i = 0; i < sk_X509_REVOKED_num(revoked); ++i) {
        const X509_REVOKED* entry = sk_X509_REVOKED_value(revoked, i);
        for (int j = 0; j < X509_REVOKED_get_ext_count(entry); ++j) {
            X509_EXTENSION* ext = X509_REVOKED_get_ext(entry, j);
            if (OBJ_obj2nid(X509_EXTENSION_get_object(ext)) == NID_certificate_issuer)
                throw Error(origin + ": is an indirect CRL (entries of other issuers), not supported");
            if (X509_EXTENSION_get_critical(ext))
                throw Error(origin + ": has an entry with a critical extension OpenSSL does not handle: "
                                     "mod_ssl would refuse every phone this CRL covers");
        }
    }
}

void require_dates(const X509_CRL* crl, const std::string& origin, std::time_t now, std::int64_t min_valid_seconds) {
    std::time_t t = now;
    const ASN1_TIME* this_update = X509_CRL_get0_lastUpdate(crl);
    // X509_cmp_time: 1 when the time lies after t, 0 when it cannot be read.
    const int cmp = this_update ? X509_cmp_time(this_update, &t) : 0;
    ERR_clear_error();
    if (cmp == 0) throw Error(origin + ": has an unreadable thisUpdate");
    if (cmp > 0)
        throw Error(origin + ": thisUpdate " + asn1_time_iso8601(this_update) +
                    " is in the future (is this machine's clock behind?): mod_ssl would refuse every phone "
                    "this CRL covers until then");
    const CrlFacts facts = describe_crl(crl, origin, now);
    if (!facts.seconds_left) return;  // no nextUpdate: it never expires
    if (*facts.seconds_left <= 0)
        throw Error(origin + ": expired " + format_duration(*facts.seconds_left) + " ago (nextUpdate " +
                    facts.next_update + "): mod_ssl would refuse every phone this CRL covers");
    if (*facts.seconds_left < min_valid_seconds)
        throw Error(origin + ": nextUpdate " + facts.next_update + " is only " + format_duration(*facts.seconds_left) +
                    " away, less than the " + format_duration(min_valid_seconds) + " required");
}

}  // namespace

std::vector<CrlSource> crl_sources(const std::vector<X509Ptr>& cas) {
    std::vector<CrlSource> out;
    for (const auto& ca : cas) {
        DistPointsPtr points(
            static_cast<CRL_DIST_POINTS*>(X509_get_ext_d2i(ca.get(), NID_crl_distribution_points, nullptr, nullptr)));
        ERR_clear_error();
        for (int i = 0; points && i < sk_DIST_POINT_num(points.get()); ++i) {
            const DIST_POINT* dp = sk_DIST_POINT_value(points.get(), i);
            if (!dp->distpoint || dp->distpoint->type != 0) continue;  // 1: a name relative to the issuer
            const GENERAL_NAMES* names = dp->distpoint->name.fullname;
            for (int j = 0; j < sk_GENERAL_NAME_num(names); ++j) {
                const GENERAL_NAME* gn = sk_GENERAL_NAME_value(names, j);
                if (gn->type != GEN_URI) continue;
                const ASN1_IA5STRING* uri = gn->d.uniformResourceIdentifier;
                std::string url(reinterpret_cast<const char*>(ASN1_STRING_get0_data(uri)),
                                static_cast<std::size_t>(ASN1_STRING_length(uri)));
                if (http_url(url)) add_source(out, std::move(url), ca.get());
            }
        }
    }
    return out;
}

X509CrlPtr decode_crl(std::string_view bytes, const std::string& origin) {
    if (bytes.empty()) throw Error(origin + ": is empty");
    if (bytes.find("-----BEGIN X509 CRL-----") != std::string_view::npos) {
        auto crls = parse_pem_crls(bytes, origin);
        if (crls.size() != 1) throw Error(origin + ": holds " + std::to_string(crls.size()) + " CRLs, not one");
        return std::move(crls.front());
    }
    if (static_cast<unsigned char>(bytes.front()) != 0x30)
        throw Error(origin + ": is neither a DER nor a PEM CRL (the server sent something else: an error page?)");
    const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
    const auto* const end = p + bytes.size();
    X509CrlPtr crl(d2i_X509_CRL(nullptr, &p, static_cast<long>(bytes.size())));
    ERR_clear_error();
    if (!crl) throw Error(origin + ": is not a valid DER CRL");
    if (p != end) throw Error(origin + ": has " + std::to_string(end - p) + " bytes after the CRL");
    return crl;
}

CrlSet CrlSet::check(std::vector<FetchedCrl> fetched, const std::vector<X509Ptr>& cas, const std::string& ca_origin,
                     std::time_t now, std::int64_t min_valid_seconds) {
    CrlSet set;
    for (auto& f : fetched) {
        X509_CRL* crl = f.crl.get();
        const X509_NAME* issuer_name = X509_CRL_get_issuer(crl);
        if (!f.expected_issuers.empty() && !names_match(f.expected_issuers, issuer_name)) {
            std::string expected;
            for (const auto& n : f.expected_issuers) expected += (expected.empty() ? "" : " or ") + quoted(n.get());
            throw Error(f.origin + ": is the CRL of " + quoted(issuer_name) + ", not of " + expected +
                        " as the certificates that name this URL require");
        }
        X509* issuer = nullptr;
        bool name_known = false;
        for (const auto& ca : cas) {
            if (X509_NAME_cmp(X509_get_subject_name(ca.get()), issuer_name) != 0) continue;
            name_known = true;
            const EVP_PKEY* key = X509_get0_pubkey(ca.get());
            if (key && X509_CRL_verify(crl, const_cast<EVP_PKEY*>(key)) == 1) {
                issuer = ca.get();
                break;
            }
        }
        ERR_clear_error();
        if (!name_known)
            throw Error(f.origin + ": is the CRL of " + quoted(issuer_name) + ", which is not a CA in " + ca_origin);
        if (!issuer)
            throw Error(f.origin + ": the signature of this CRL of " + quoted(issuer_name) +
                        " does not verify with the key of that CA in " + ca_origin + " (another key signed it)");
        if ((X509_get_key_usage(issuer) & KU_CRL_SIGN) == 0)
            throw Error(f.origin + ": " + quoted(issuer_name) + " may not sign CRLs (its key usage lacks cRLSign)");
        require_plain_form(crl, f.origin);
        require_dates(crl, f.origin, now, min_valid_seconds);

        bool duplicate = false;
        for (const auto& c : set.crls_) {
            if (X509_NAME_cmp(X509_CRL_get_issuer(c.crl()), issuer_name) != 0) continue;
            if (!same_crl(c.crl(), crl))
                throw Error(f.origin + ": is a second, different CRL of " + quoted(issuer_name) + " (the first came from " +
                            c.origin() + ")");
            duplicate = true;
        }
        if (duplicate) continue;
        X509_up_ref(issuer);
        set.crls_.push_back(CheckedCrl(std::move(f.origin), std::move(f.crl), X509Ptr(issuer)));
    }
    return set;
}

void CrlSet::require_not_older_than(const std::vector<X509CrlPtr>& previous, const std::string& previous_origin) const {
    for (const auto& c : crls_) {
        for (const auto& p : previous) {
            if (X509_NAME_cmp(X509_CRL_get_issuer(c.crl()), X509_CRL_get_issuer(p.get())) != 0) continue;
            const ASN1_TIME* before = X509_CRL_get0_lastUpdate(p.get());
            const ASN1_TIME* now = X509_CRL_get0_lastUpdate(c.crl());
            int days = 0, seconds = 0;
            const bool compared = before && now && ASN1_TIME_diff(&days, &seconds, before, now) == 1;
            ERR_clear_error();
            if (compared && (days < 0 || seconds < 0))
                throw Error(c.origin() + ": this CRL of " + quoted(X509_CRL_get_issuer(c.crl())) + " (thisUpdate " +
                            asn1_time_iso8601(now) + ") is older than the one in " + previous_origin + " (thisUpdate " +
                            asn1_time_iso8601(before) + "): an old CRL served again would hide newer revocations");
        }
    }
}

std::string CrlSet::pem() const {
    std::string out;
    for (const auto& c : crls_) {
        out += "# " + crl_summary(describe_crl(c.crl(), c.origin(), 0)) + "\n";
        BioPtr bio(BIO_new(BIO_s_mem()));
        if (!bio || PEM_write_bio_X509_CRL(bio.get(), c.crl()) != 1) throw Error("out of memory writing PEM");
        char* data = nullptr;
        const long n = BIO_get_mem_data(bio.get(), &data);
        out.append(data, static_cast<std::size_t>(n));
    }
    return out;
}

}  // namespace polyprov
