#include "test_pki.hpp"

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

Credential make(const std::string& cn, const Credential* issuer, Validity validity, bool ca) {
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
    add_ext(cert, issuer_cert, NID_key_usage, ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature,keyEncipherment");
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

Credential make_ca(const std::string& cn, const Credential* issuer, Validity validity) {
    return make(cn, issuer, validity, true);
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

}  // namespace polyprov::testing
