#include "test_pki.hpp"

#include <ctime>
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

Credential make(const std::string& cn, const Credential* issuer, Validity validity, bool ca,
                const std::string& crl_url = "", bool crl_sign = true) {
    static long serial = 1;
    Credential out{X509Ptr(X509_new()), new_key()};
    X509* cert = out.cert.get();
    check(X509_set_version(cert, 2), "version");
    check(ASN1_INTEGER_set(X509_get_serialNumber(cert), ++serial), "serial");
    X509_NAME* name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("Polycom Inc."), -1, -1, 0);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
    check(X509_set_issuer_name(cert, issuer ? X509_get_subject_name(issuer->cert.get()) : name), "issuer");
    X509_time_adj_ex(X509_getm_notBefore(cert), static_cast<int>(validity.from_days), 0, nullptr);
    X509_time_adj_ex(X509_getm_notAfter(cert), static_cast<int>(validity.to_days), 0, nullptr);
    check(X509_set_pubkey(cert, out.key.get()), "pubkey");
    X509* issuer_cert = issuer ? issuer->cert.get() : cert;
    add_ext(cert, issuer_cert, NID_basic_constraints, ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
    add_ext(cert, issuer_cert, NID_key_usage,
            !ca ? "critical,digitalSignature,keyEncipherment" : crl_sign ? "critical,keyCertSign,cRLSign" : "critical,keyCertSign");
    if (!crl_url.empty()) add_ext(cert, issuer_cert, NID_crl_distribution_points, ("URI:" + crl_url).c_str());
    add_ext(cert, issuer_cert, NID_subject_key_identifier, "hash");
    if (!ca) add_ext(cert, issuer_cert, NID_ext_key_usage, "clientAuth");
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
