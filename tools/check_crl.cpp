// polyprov check-crl: how long the CRLs mod_ssl checks phones against stay
// usable, for monitoring (the module logs the same at start-up).

#include <cstdio>
#include <ctime>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include <polyprov/crl_freshness.hpp>
#include <polyprov/duration.hpp>
#include <polyprov/error.hpp>

#include "commands.hpp"

namespace polyprov::cli {

int check_crl(const Args& args) {
    Options o;
    if (!parse_options(args, {"--warn"}, o) || o.positional.size() != 1) {
        std::fputs("usage: polyprov check-crl FILE|DIR [--warn DURATION]\n", stderr);
        return 2;
    }
    std::int64_t warn = kCrlWarnSeconds;
    if (const std::string* w = o.get("--warn")) {
        const auto v = parse_duration(*w);
        if (!v) {
            std::fprintf(stderr, "polyprov: --warn takes a duration: 36h, 3d, 2w (or seconds)\n");
            return 2;
        }
        warn = *v;
    }
    const std::string& path = o.positional[0];
    const std::time_t now = std::time(nullptr);
    std::vector<CrlFacts> crls;
    try {
        std::error_code ec;
        // A directory is read as SSLCARevocationPath reads it (hashed names).
        crls = std::filesystem::is_directory(path, ec) ? read_crl_directory(path, now) : read_crl_file(path, now);
    } catch (const Error& e) {
        std::fprintf(stderr, "polyprov: %s\n", e.what());
        return 2;
    }
    if (crls.empty()) {
        std::fprintf(stderr, "polyprov: %s: no CRL files (HHHHHHHH.rN, as openssl rehash names them)\n", path.c_str());
        return 2;
    }
    std::size_t stale = 0;
    for (const auto& facts : crls) {
        const CrlFreshness state = classify(facts, warn);
        const char* word = state == CrlFreshness::fresh ? "ok" : state == CrlFreshness::expiring ? "EXPIRING" : "EXPIRED";
        std::printf("%-9s %s; %s\n", word, crl_summary(facts).c_str(), freshness_note(facts, state).c_str());
        stale += state != CrlFreshness::fresh;
    }
    if (stale == 0) return 0;
    std::fprintf(stderr,
                 "polyprov: %zu of %zu CRLs expire within %s or have expired: past its nextUpdate, mod_ssl refuses "
                 "every phone a CRL covers; refresh them (polyprov fetch-crl) and reload Apache\n",
                 stale, crls.size(), format_duration(warn).c_str());
    return 1;
}

}  // namespace polyprov::cli
