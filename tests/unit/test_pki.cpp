#include "test_pki.hpp"

#include <cctype>
#include <ctime>
#include <string_view>
#include <stdexcept>

#include <openssl/ec.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

namespace polyprov::testing {
namespace {

void check(int ok, const char* what) {
    if (ok <= 0) throw std::runtime_error(std::string("test PKI: ") + what);
}

void add_ext(X509* cert, X509* issuer, int nid, const char* value) {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
    check(ext != nullptr, "extension");
    X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
}

// An extension given as the DER of its value, as Poly's CAs encode it:
// OpenSSL has no configuration syntax for the Microsoft ones, and a
// certificate policy with a CPS would need a configuration database.
void add_der_ext(X509* cert, const char* oid, const std::string& der_hex) {
    std::string der;
    for (std::size_t i = 0; i + 1 < der_hex.size(); i += 2)
        der += static_cast<char>(std::stoi(der_hex.substr(i, 2), nullptr, 16));
    ASN1_OBJECT* obj = OBJ_txt2obj(oid, 1);
    ASN1_OCTET_STRING* value = ASN1_OCTET_STRING_new();
    check(obj && value && ASN1_OCTET_STRING_set(value, reinterpret_cast<const unsigned char*>(der.data()),
                                                static_cast<int>(der.size())), "DER extension");
    X509_EXTENSION* ext = X509_EXTENSION_create_by_OBJ(nullptr, obj, 0, value);
    check(ext && X509_add_ext(cert, ext, -1), "DER extension");
    X509_EXTENSION_free(ext);
    ASN1_OCTET_STRING_free(value);
    ASN1_OBJECT_free(obj);
}

constexpr const char* kMsCaVersion = "1.3.6.1.4.1.311.21.1";     // INTEGER 0
constexpr const char* kMsTemplateName = "1.3.6.1.4.1.311.20.2";  // BMPString "CA"
// Policy 1.3.6.1.4.1.13885.101.2.1, CPS http://pki.polycom.com/cps/
constexpr const char* kPolyPolicies =
    "30393037060A2B06010401EC3D6502013029302706082B06010505070201161B687474703A2F2F706B692E706F6C79636F6D2E636F6D"
    "2F6370732F";

std::string common_name(X509* cert) {
    X509_NAME* name = X509_get_subject_name(cert);
    const int i = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
    if (i < 0) return "";
    const ASN1_STRING* text = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i));
    return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(text)),
                       static_cast<std::size_t>(ASN1_STRING_length(text)));
}

std::string percent_spaces(const std::string& s) {
    std::string out;
    for (char c : s) out += c == ' ' ? std::string("%20") : std::string(1, c);
    return out;
}

// Poly's CA names are PrintableString; names the tests make awkward on
// purpose (control characters) cannot be one.
int string_type(const std::string& s) {
    for (unsigned char c : s)
        if (!std::isalnum(c) && std::string_view(" '()+,-./:=?").find(static_cast<char>(c)) == std::string_view::npos)
            return MBSTRING_UTF8;
    return V_ASN1_PRINTABLESTRING;
}

void add_text(X509_NAME* name, const char* field, const std::string& value, int type) {
    check(X509_NAME_add_entry_by_txt(name, field, type, reinterpret_cast<const unsigned char*>(value.c_str()),
                                     static_cast<int>(value.size()), -1, 0),
          "name");
}

// The CAs carry the extensions of Poly's, in the same order: a root like
// the Polycom Root CA, a CA directly under a root like the Equipment Policy
// CA, one further down like an Equipment Issuing CA. Leaves are phones.
Credential make(const std::string& cn, const Credential* issuer, Validity validity, bool ca,
                const std::string& crl_url = "", bool crl_sign = true) {
    static long serial = 1;
    Credential out{X509Ptr(X509_new()), new_key()};
    X509* cert = out.cert.get();
    check(X509_set_version(cert, 2), "version");
    check(ASN1_INTEGER_set(X509_get_serialNumber(cert), ++serial), "serial");
    X509_NAME* name = X509_get_subject_name(cert);
    if (ca) {
        add_text(name, "CN", cn, string_type(cn));  // Poly's CAs: a CN alone
    } else {
        add_text(name, "O", "Polycom Inc.", MBSTRING_ASC);
        add_text(name, "CN", cn, MBSTRING_ASC);
    }
    check(X509_set_issuer_name(cert, issuer ? X509_get_subject_name(issuer->cert.get()) : name), "issuer");
    X509_time_adj_ex(X509_getm_notBefore(cert), static_cast<int>(validity.from_days), 0, nullptr);
    X509_time_adj_ex(X509_getm_notAfter(cert), static_cast<int>(validity.to_days), 0, nullptr);
    check(X509_set_pubkey(cert, out.key.get()), "pubkey");
    X509* issuer_cert = issuer ? issuer->cert.get() : cert;
    const char* ca_usage = crl_sign ? "digitalSignature,keyCertSign,cRLSign" : "digitalSignature,keyCertSign";
    if (!ca) {
        add_ext(cert, issuer_cert, NID_basic_constraints, "critical,CA:FALSE");
        add_ext(cert, issuer_cert, NID_key_usage, "critical,digitalSignature,keyEncipherment");
        add_ext(cert, issuer_cert, NID_subject_key_identifier, "hash");
        add_ext(cert, issuer_cert, NID_ext_key_usage, "clientAuth");
    } else if (!issuer) {
        add_der_ext(cert, kMsTemplateName, "1E0400430041");
        add_ext(cert, issuer_cert, NID_key_usage, ca_usage);
        add_ext(cert, issuer_cert, NID_basic_constraints, "critical,CA:TRUE");
        add_ext(cert, issuer_cert, NID_subject_key_identifier, "hash");
        add_der_ext(cert, kMsCaVersion, "020100");
    } else {
        add_ext(cert, issuer_cert, NID_basic_constraints, "critical,CA:TRUE");
        add_ext(cert, issuer_cert, NID_subject_key_identifier, "hash");
        add_ext(cert, issuer_cert, NID_key_usage, ca_usage);
        add_der_ext(cert, kMsCaVersion, "020100");
        const bool under_root =
            X509_NAME_cmp(X509_get_subject_name(issuer_cert), X509_get_issuer_name(issuer_cert)) == 0;
        if (under_root) add_der_ext(cert, "2.5.29.32", kPolyPolicies);  // certificatePolicies
        add_ext(cert, issuer_cert, NID_authority_key_identifier, "keyid:always");
        // Tests choose the distribution point they fetch; the rest is Poly's form.
        if (!crl_url.empty()) add_ext(cert, issuer_cert, NID_crl_distribution_points, ("URI:" + crl_url).c_str());
        const std::string issuer_url = "http://pki.polycom.com/pki/" + percent_spaces(common_name(issuer_cert)) + ".crt";
        add_ext(cert, issuer_cert, NID_info_access, ("caIssuers;URI:" + issuer_url).c_str());
    }
    check(X509_sign(cert, issuer ? issuer->key.get() : out.key.get(), EVP_sha256()), "sign");
    return out;
}

}  // namespace

KeyPtr new_key() {
    KeyPtr key(EVP_EC_gen("P-256"));
    check(key != nullptr, "key");
    return key;
}

Credential make_ca(const std::string& cn, const Credential* issuer, Validity validity, const std::string& crl_url,
                   bool crl_sign) {
    return make(cn, issuer, validity, true, crl_url, crl_sign);
}

Credential make_leaf(const std::string& cn, const Credential& issuer, Validity validity) {
    return make(cn, &issuer, validity, false);
}

X509Ptr with_bad_signature(const X509* cert) {
    unsigned char* der = nullptr;
    const int len = i2d_X509(cert, &der);
    check(len, "i2d");
    der[len - 1] ^= 0x01;
    const unsigned char* p = der;
    X509Ptr out(d2i_X509(nullptr, &p, len));
    OPENSSL_free(der);
    check(out != nullptr, "d2i");
    return out;
}

std::string to_pem(const X509* cert) {
    BioPtr bio(BIO_new(BIO_s_mem()));
    check(PEM_write_bio_X509(bio.get(), const_cast<X509*>(cert)), "pem");
    char* data = nullptr;
    const long len = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<std::size_t>(len));
}

std::string key_to_pem(const EVP_PKEY* key) {
    BioPtr bio(BIO_new(BIO_s_mem()));
    check(PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr), "key pem");
    char* data = nullptr;
    const long len = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<std::size_t>(len));
}

namespace {

using TimePtr = std::unique_ptr<ASN1_TIME, OpenSslDeleter<ASN1_TIME, ASN1_TIME_free>>;

TimePtr from_now(long seconds) {
    TimePtr t(ASN1_TIME_adj(nullptr, std::time(nullptr), 0, seconds));
    check(t != nullptr, "time");
    return t;
}

std::string bio_text(BIO* bio) {
    char* data = nullptr;
    const long len = BIO_get_mem_data(bio, &data);
    return std::string(data, static_cast<std::size_t>(len));
}

}  // namespace

X509CrlPtr make_crl(const Credential& issuer, const CrlSpec& spec) {
    X509CrlPtr crl(X509_CRL_new());
    check(crl != nullptr && X509_CRL_set_version(crl.get(), 1), "crl");
    check(X509_CRL_set_issuer_name(crl.get(), X509_get_subject_name(issuer.cert.get())), "crl issuer");
    check(X509_CRL_set1_lastUpdate(crl.get(), from_now(spec.this_update).get()), "thisUpdate");
    if (spec.next_update) check(X509_CRL_set1_nextUpdate(crl.get(), from_now(*spec.next_update).get()), "nextUpdate");
    for (const auto& r : spec.revoked) {
        X509_REVOKED* rev = X509_REVOKED_new();
        BIGNUM* bn = nullptr;
        check(rev != nullptr && BN_hex2bn(&bn, r.serial_hex.c_str()) > 0, "serial");
        ASN1_INTEGER* serial = BN_to_ASN1_INTEGER(bn, nullptr);
        BN_free(bn);
        check(serial != nullptr && X509_REVOKED_set_serialNumber(rev, serial), "serial");
        ASN1_INTEGER_free(serial);
        check(X509_REVOKED_set_revocationDate(rev, from_now(-r.days_ago * 86400).get()), "revocation date");
        if (r.reason >= 0) {
            ASN1_ENUMERATED* reason = ASN1_ENUMERATED_new();
            check(reason && ASN1_ENUMERATED_set(reason, r.reason), "reason");
            check(X509_REVOKED_add1_ext_i2d(rev, NID_crl_reason, reason, 0, 0), "reason ext");
            ASN1_ENUMERATED_free(reason);
        }
        check(X509_CRL_add0_revoked(crl.get(), rev), "add revoked");
    }
    if (spec.delta) {
        ASN1_INTEGER* base = ASN1_INTEGER_new();
        check(base && ASN1_INTEGER_set(base, 1) && X509_CRL_add1_ext_i2d(crl.get(), NID_delta_crl, base, 1, 0), "delta");
        ASN1_INTEGER_free(base);
    }
    if (spec.unknown_critical) {
        ASN1_OBJECT* oid = OBJ_txt2obj("1.3.6.1.4.1.55555.1", 1);
        ASN1_OCTET_STRING* value = ASN1_OCTET_STRING_new();
        check(oid && value && ASN1_OCTET_STRING_set(value, reinterpret_cast<const unsigned char*>("\x05\x00"), 2), "oid");
        X509_EXTENSION* ext = X509_EXTENSION_create_by_OBJ(nullptr, oid, 1, value);
        check(ext && X509_CRL_add_ext(crl.get(), ext, -1), "critical ext");
        X509_EXTENSION_free(ext);
        ASN1_OCTET_STRING_free(value);
        ASN1_OBJECT_free(oid);
    }
    if (spec.indirect) {
        ISSUING_DIST_POINT* idp = ISSUING_DIST_POINT_new();
        check(idp != nullptr, "idp");
        idp->indirectCRL = 1;
        check(X509_CRL_add1_ext_i2d(crl.get(), NID_issuing_distribution_point, idp, 1, 0), "idp ext");
        ISSUING_DIST_POINT_free(idp);
    }
    X509_CRL_sort(crl.get());
    check(X509_CRL_sign(crl.get(), issuer.key.get(), EVP_sha256()), "crl sign");
    return crl;
}

std::string crl_to_pem(const X509_CRL* crl) {
    BioPtr bio(BIO_new(BIO_s_mem()));
    check(bio && PEM_write_bio_X509_CRL(bio.get(), crl), "crl pem");
    return bio_text(bio.get());
}

std::string crl_to_der(const X509_CRL* crl) {
    unsigned char* der = nullptr;
    const int len = i2d_X509_CRL(crl, &der);
    check(len, "crl der");
    std::string out(reinterpret_cast<char*>(der), static_cast<std::size_t>(len));
    OPENSSL_free(der);
    return out;
}

std::string serial_of(const X509* cert) {
    BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr);
    char* hex = bn ? BN_bn2hex(bn) : nullptr;
    check(hex != nullptr, "serial hex");
    std::string out(hex);
    OPENSSL_free(hex);
    BN_free(bn);
    return out;
}

}  // namespace polyprov::testing
