// polyprov acl check | acl pin

#include <cstdio>
#include <fstream>
#include <optional>
#include <sstream>

#include <polyprov/acl.hpp>
#include <polyprov/acl_rows.hpp>
#include <polyprov/authentication.hpp>
#include <polyprov/client_cert.hpp>
#include <polyprov/error.hpp>
#include <polyprov/mac_pattern.hpp>
#include <polyprov/printable.hpp>
#include <openssl/pem.h>

#include "commands.hpp"
#include "../mod_polyprov/apr/dbd_rows.hpp"

namespace polyprov::cli {

namespace {

// What the module would load from a query: the list, and each row it
// leaves out with the words of its log (PP210).
int check_query(const dbd::Source& source) {
    const std::string origin = "PolyProvACLQuery";
    try {
        AclRowsBuilder rows;
        dbd::read_rows(source, rows);
        const AclFromRows built = rows.finish(origin);
        for (const AclRowProblem& p : built.problems)
            std::fprintf(stderr, "row %zu: '%s': %s; left out\n", p.row, p.value.c_str(), p.why.c_str());
        std::printf("%s: %zu devices, %zu row%s left out\n", origin.c_str(), built.acl->size(), built.problems.size(),
                    built.problems.size() == 1 ? "" : "s");
        return built.problems.empty() ? 0 : 1;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "%s: %s\n", origin.c_str(), e.what());
        return 1;
    }
}

}  // namespace

int acl_check(const Args& args) {
    // --dbd takes two values, DRIVER and PARAMS, as DBDriver and DBDParams do.
    Args rest;
    std::optional<dbd::Source> source;
    for (std::size_t i = 0; i < args.size(); ++i) {
        if (args[i] != "--dbd") {
            rest.push_back(args[i]);
            continue;
        }
        if (i + 2 >= args.size() || source) {
            std::fputs("usage: polyprov acl check --dbd DRIVER PARAMS --query SQL\n", stderr);
            return 2;
        }
        source = dbd::Source{args[i + 1], args[i + 2], ""};
        i += 2;
    }
    Options o;
    if (source) {
        const std::string* sql = nullptr;
        if (!parse_options(rest, {"--query"}, o) || !o.positional.empty() || !(sql = o.get("--query")) || sql->empty()) {
            std::fputs("usage: polyprov acl check --dbd DRIVER PARAMS --query SQL\n", stderr);
            return 2;
        }
        source->sql = *sql;
        return check_query(*source);
    }
    if (!parse_options(args, {}, o) || o.positional.size() != 1) {
        std::fputs("usage: polyprov acl check FILE\n"
                   "       polyprov acl check --dbd DRIVER PARAMS --query SQL\n", stderr);
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
