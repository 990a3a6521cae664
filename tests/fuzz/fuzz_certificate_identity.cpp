// A certificate's subject is whoever made the certificate's to choose: the
// whole rule from its CN attributes to the device it authenticates.
// Input: byte 0 picks the string type, byte 1 the verification state and
// whether the CN comes twice; the rest is the CN's raw bytes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include <openssl/x509.h>

#include <polyprov/authentication.hpp>
#include <polyprov/client_cert.hpp>

namespace {

const int kTypes[] = {V_ASN1_PRINTABLESTRING, V_ASN1_UTF8STRING, V_ASN1_IA5STRING, V_ASN1_T61STRING,
                      V_ASN1_BMPSTRING, V_ASN1_UNIVERSALSTRING, V_ASN1_VISIBLESTRING, V_ASN1_OCTET_STRING};

void add_cn(X509_NAME* name, int type, std::string_view bytes) {
    X509_NAME_ENTRY* entry = X509_NAME_ENTRY_create_by_NID(nullptr, NID_commonName, V_ASN1_UTF8STRING,
                                                           reinterpret_cast<const unsigned char*>("x"), 1);
    ASN1_STRING* value = X509_NAME_ENTRY_get_data(entry);
    ASN1_STRING_set(value, bytes.data(), static_cast<int>(bytes.size()));
    value->type = type;
    X509_NAME_add_entry(name, entry, -1, 0);
    X509_NAME_ENTRY_free(entry);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const polyprov::MacPattern pattern = polyprov::MacPattern::compile(polyprov::MacPattern::kDefault);
    static const polyprov::Acl acl = polyprov::Acl::parse(
        "0004F2000001\n0004F2000002 sha256=" + std::string(64, 'A') + "\n", "fuzz.acl");
    if (size < 2) return 0;
    const int type = kTypes[data[0] % (sizeof kTypes / sizeof kTypes[0])];
    const bool verified = data[1] & 1, twice = data[1] & 2;
    const std::string_view cn(reinterpret_cast<const char*>(data + 2), size - 2);

    X509* cert = X509_new();
    X509_NAME* name = X509_get_subject_name(cert);
    add_cn(name, type, cn);
    if (twice) add_cn(name, type, cn);
    const std::optional<std::string> single = polyprov::single_common_name(cert);
    X509_free(cert);

    if (single) {
        if (twice) std::abort();   // two CNs name nobody, even when equal
        for (const unsigned char c : *single)
            if (c < 0x20 || c == 0x7f) std::abort();   // no control character survives
    }
    polyprov::PresentedCertificate presented;
    presented.present = true;
    presented.verified = verified;
    presented.claimed = polyprov::claimed_mac(single, pattern);
    const polyprov::Authentication auth = polyprov::authenticate(presented, &acl);
    if (auth.device) {
        if (auth.denial != polyprov::Denial::none || auth.device != presented.claimed || !single) std::abort();
        if (!verified && !auth.pinned) std::abort();
        if (auth.device->str() == "0004F2000002") std::abort();   // pinned to a certificate nobody has
    } else if (auth.denial == polyprov::Denial::none) {
        std::abort();
    }
    return 0;
}
