// polyprov acl check | acl pin

#include <cstdio>
#include <fstream>
#include <sstream>

#include <polyprov/acl.hpp>
#include <polyprov/authentication.hpp>
#include <polyprov/client_cert.hpp>
#include <polyprov/error.hpp>
#include <polyprov/mac_pattern.hpp>
#include <polyprov/printable.hpp>
#include <openssl/pem.h>

#include "commands.hpp"

namespace polyprov::cli {

int acl_check(const Args& args) {
    Options o;
    if (!parse_options(args, {}, o) || o.positional.size() != 1) {
        std::fputs("usage: polyprov acl check FILE\n", stderr);
        return 2;
    }
    const std::string& path = o.positional[0];
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        std::fprintf(stderr, "%s: cannot be read\n", path.c_str());
        return 2;
    }
    std::ostringstream text;
    text << in.rdbuf();
    try {
        const Acl acl = Acl::parse(text.str(), path);
        std::printf("%s: %zu devices, valid\n", path.c_str(), acl.size());
        return 0;
    } catch (const Error& e) {
        std::fprintf(stderr, "%s\n", e.what());
        return 1;
    }
}

int acl_pin(const Args& args) {
    Options o;
    if (!parse_options(args, {"--label"}, o) || o.positional.size() != 1) {
        std::fputs("usage: polyprov acl pin CERT.pem [--label LABEL]\n", stderr);
        return 2;
    }
    std::ifstream in(o.positional[0], std::ios::binary);
    std::ostringstream pem;
    pem << in.rdbuf();
    const X509Ptr cert = parse_pem_certificate(pem.str());
    if (!cert) {
        std::fprintf(stderr, "%s: no PEM certificate\n", o.positional[0].c_str());
        return 2;
    }
    const std::optional<std::string> cn = single_common_name(cert.get());
    const auto mac = claimed_mac(cn, MacPattern::compile(MacPattern::kDefault));
    if (!mac) {
        std::fprintf(stderr, "%s: the CN \"%s\" names no single MAC%s\n", o.positional[0].c_str(),
                     printable(cn ? *cn : subject_common_name(cert.get())).c_str(),
                     cn ? "" : " (the subject has no single valid CN)");
        return 1;
    }
    const auto fingerprint = certificate_sha256(cert.get());
    if (!fingerprint) {
        std::fprintf(stderr, "%s: cannot compute the certificate's SHA-256\n", o.positional[0].c_str());
        return 1;
    }
    std::string line = mac->str();
    if (const std::string* label = o.get("--label")) {
        for (const char c : *label)
            if (c == '"' || static_cast<unsigned char>(c) < 0x20) {
                std::fputs("polyprov: a label may not hold quotes or control characters\n", stderr);
                return 2;
            }
        line += label->find_first_of(" \t#") == std::string::npos ? " label=" + *label : " label=\"" + *label + "\"";
    }
    line += " sha256=" + fingerprint_hex(*fingerprint);
    std::printf("%s\n", line.c_str());
    return 0;
}

}  // namespace polyprov::cli
