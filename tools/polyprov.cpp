// polyprov: the module's decisions, from the command line, with the same core.

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>

#include "commands.hpp"

namespace polyprov::cli {

const char* const kUsage =
    "usage: polyprov COMMAND [ARGS]\n"
    "\n"
    "  acl check FILE\n"
    "  acl check --dbd DRIVER PARAMS --query SQL\n"
    "      validate a PolyProvACLFile (errors as FILE:LINE: reason), or run a PolyProvACLQuery\n"
    "      and say what the module would load (rows left out: row N: value: reason)\n"
    "  acl pin CERT.pem [--label LABEL]\n"
    "      print the ACL line that pins a (self-signed) phone certificate to its MAC\n"
    "  check-cert CERT.pem --anchors FILE [--ca FILE] [--chain FILE] [--mode leaf|chain] [--acl FILE]\n"
    "      say what mod_polyprov would decide for a phone certificate, and why\n"
    "  fetch-ca --out DIR [--from URL] [--root-sha256 FINGERPRINT] [--timeout SECONDS]\n"
    "      download Poly's root and intermediate CAs (default URL http://pki.polycom.com/pki/),\n"
    "      check that they chain to a root with the SHA-256 of Poly's published one (or the\n"
    "      FINGERPRINT given), write DIR/polycom-root.pem and DIR/polycom-ca.pem\n"
    "  fetch-crl --ca FILE --out FILE [--history FILE] [--from URL]... [--timeout SECONDS]\n"
    "            [--min-valid DURATION]\n"
    "      download the CRLs the CA certificates in FILE name (or --from), check them\n"
    "      against those CAs, write them as one PEM file for SSLCARevocationFile and\n"
    "      record every revoked certificate in the history (PolyProvRevocationHistory)\n"
    "  check-crl FILE|DIR [--warn DURATION]\n"
    "      print each CRL's issuer, thisUpdate, nextUpdate and entries; exit 1 when one\n"
    "      expires within DURATION (default 3d)\n"
    "  fleet URL [--cert FILE --key FILE] [--cacert FILE] [--expiring DAYS]\n"
    "      summarise the fleet view of a server's polyprov-status page; with --expiring, list the phones\n"
    "      whose certificates run out within DAYS (exit status 1 when one needs attention)\n"
    "  help\n"
    "      this text\n"
    "\n"
    "exit status: 0 valid / accepted / written / fresh, 1 invalid / refused / expiring / a phone\n"
    "             needs attention,\n"
    "             2 usage error, unreadable input, failed download or write\n";

const std::string* Options::get(const std::string& name) const {
    for (const auto& [k, v] : named)
        if (k == name) return &v;
    return nullptr;
}

bool parse_options(const Args& args, const std::vector<std::string>& known, Options& out) {
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (a.rfind("--", 0) != 0) {
            out.positional.push_back(a);
            continue;
        }
        bool ok = false;
        for (const auto& k : known) ok = ok || a == k;
        if (!ok) {
            std::fprintf(stderr, "polyprov: unknown option %s\n", a.c_str());
            return false;
        }
        if (i + 1 >= args.size()) {
            std::fprintf(stderr, "polyprov: %s needs a value\n", a.c_str());
            return false;
        }
        out.named.emplace_back(a, args[++i]);
    }
    return true;
}

bool timeout_option(const Options& o, int& seconds) {
    const std::string* t = o.get("--timeout");
    if (!t) return true;
    // OpenSSL keeps retrying a refused connection until this runs out.
    char* end = nullptr;
    const long v = std::strtol(t->c_str(), &end, 10);
    if (t->empty() || *end || v < 1 || v > 3600) {
        std::fprintf(stderr, "polyprov: --timeout takes whole seconds, 1 to 3600\n");
        return false;
    }
    seconds = static_cast<int>(v);
    return true;
}

}  // namespace polyprov::cli

int main(int argc, char** argv) {
    using namespace polyprov::cli;
    // A server that hangs up mid-download is an error to report, not a
    // signal to die of.
    std::signal(SIGPIPE, SIG_IGN);
    const Args args(argv + 1, argv + argc);
    try {
        if (args.empty() || args[0] == "help" || args[0] == "--help" || args[0] == "-h") {
            std::fputs(kUsage, args.empty() ? stderr : stdout);
            return args.empty() ? 2 : 0;
        }
        if (args[0] == "acl" && args.size() >= 2 && args[1] == "check") return acl_check(Args(args.begin() + 2, args.end()));
        if (args[0] == "acl" && args.size() >= 2 && args[1] == "pin") return acl_pin(Args(args.begin() + 2, args.end()));
        if (args[0] == "check-cert") return check_cert(Args(args.begin() + 1, args.end()));
        if (args[0] == "fetch-ca") return fetch_ca(Args(args.begin() + 1, args.end()));
        if (args[0] == "fetch-crl") return fetch_crl(Args(args.begin() + 1, args.end()));
        if (args[0] == "check-crl") return check_crl(Args(args.begin() + 1, args.end()));
        if (args[0] == "fleet") return fleet(Args(args.begin() + 1, args.end()));
        std::fprintf(stderr, "polyprov: unknown command '%s'\n\n%s", args[0].c_str(), kUsage);
        return 2;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "polyprov: %s\n", e.what());
        return 2;
    }
}
