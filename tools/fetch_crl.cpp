// polyprov fetch-crl: the CRLs a CA bundle names, downloaded, checked with
// the module's core against those CAs and written as the one PEM file
// SSLCARevocationFile reads; every revoked entry also goes into the
// revocation history, which outlives the CA dropping it.

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <polyprov/crl_freshness.hpp>
#include <polyprov/crl_set.hpp>
#include <polyprov/duration.hpp>
#include <polyprov/error.hpp>
#include <polyprov/printable.hpp>
#include <polyprov/revocation_history.hpp>
#include <polyprov/trust_anchors.hpp>

#include "commands.hpp"
#include "http_get.hpp"
#include "write_files.hpp"

namespace polyprov::cli {
namespace {

// Revoked device certificates make a CRL grow: 16 MiB is some 400,000
// entries, far past any fleet, and still bounds a hostile server.
constexpr std::size_t kMaxCrlBytes = 16 * 1024 * 1024;
constexpr int kDefaultTimeoutSeconds = 30;
constexpr std::int64_t kDefaultMinValidSeconds = 86400;

int usage() {
    std::fputs("usage: polyprov fetch-crl --ca FILE --out FILE [--history FILE] [--from URL]... "
               "[--timeout SECONDS] [--min-valid DURATION]\n",
               stderr);
    return 2;
}

int refuse(int status, const std::string& why) {
    std::fprintf(stderr, "polyprov: %s\nnothing written\n", why.c_str());
    return status;
}

// The file name a URL ends in, %XX decoded, so that "Polycom%20Root%20CA.crl"
// and "Polycom Root CA.crl" name the same file.
std::string file_name(const std::string& url) {
    std::string raw = url.substr(0, url.find_first_of("?#"));
    raw = raw.substr(raw.find_last_of('/') + 1);
    std::string out;
    for (std::size_t i = 0; i < raw.size(); ++i) {
        if (raw[i] == '%' && i + 2 < raw.size() && std::isxdigit(static_cast<unsigned char>(raw[i + 1])) &&
            std::isxdigit(static_cast<unsigned char>(raw[i + 2]))) {
            out.push_back(static_cast<char>(std::stoi(raw.substr(i + 1, 2), nullptr, 16)));
            i += 2;
        } else {
            out.push_back(raw[i]);
        }
    }
    return out;
}

// --from, in order: a URL ending in "/" is a mirror holding every
// distribution point's file under its own name; any other URL replaces
// the distribution point whose file has the same name, or is one more CRL.
void apply_from(std::vector<CrlSource>& sources, const std::string& from) {
    if (!from.empty() && from.back() == '/') {
        for (auto& s : sources) {
            const std::string raw = s.url.substr(0, s.url.find_first_of("?#"));
            s.url = from + raw.substr(raw.find_last_of('/') + 1);
        }
        return;
    }
    for (auto& s : sources) {
        if (file_name(s.url) == file_name(from)) {
            s.url = from;
            return;
        }
    }
    sources.push_back({from, {}, "--from"});
}

// The file as it is now, or nullopt when there is none.
std::optional<std::string> current_content(const std::string& path) {
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) {
        if (errno == ENOENT) return std::nullopt;
        throw Error(path + ": cannot be read: " + std::strerror(errno));
    }
    std::string out;
    char buf[65536];
    for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) out.append(buf, n);
    const bool failed = std::ferror(f) != 0;
    std::fclose(f);
    if (failed) throw Error(path + ": cannot be read");
    return out;
}

struct Target {
    std::string dir, name;
};

Target split(const std::string& path) {
    const std::filesystem::path p(path);
    const std::string dir = p.parent_path().string();
    return {dir.empty() ? "." : dir, p.filename().string()};
}

// The same file or directory, however named.
bool same_path(const std::string& a, const std::string& b) {
    namespace fs = std::filesystem;
    std::error_code ec1, ec2;
    // weakly_canonical leaves a relative path that does not exist as it is.
    const auto x = fs::weakly_canonical(fs::absolute(a, ec1), ec1), y = fs::weakly_canonical(fs::absolute(b, ec2), ec2);
    return !ec1 && !ec2 && x == y;
}

// A URL as typed, with the spaces of file names like Poly's encoded: an
// HTTP request line cannot carry them.
std::string encode_spaces(const std::string& url) {
    std::string out;
    for (const char c : url) out += c == ' ' ? std::string("%20") : std::string(1, c);
    return out;
}

}  // namespace

int fetch_crl(const Args& args) {
    Options o;
    if (!parse_options(args, {"--ca", "--out", "--history", "--from", "--timeout", "--min-valid"}, o) ||
        !o.positional.empty() || !o.get("--ca") || !o.get("--out"))
        return usage();
    int timeout = kDefaultTimeoutSeconds;
    if (!timeout_option(o, timeout)) return 2;
    std::int64_t min_valid = kDefaultMinValidSeconds;
    if (const std::string* m = o.get("--min-valid")) {
        const auto v = parse_duration(*m);
        if (!v) {
            std::fprintf(stderr, "polyprov: --min-valid takes a duration: 90m, 36h, 1d, 2w (or seconds)\n");
            return 2;
        }
        min_valid = *v;
    }
    const std::string& ca_path = *o.get("--ca");
    const std::string& out_path = *o.get("--out");
    const std::string* history_path = o.get("--history");
    const Target out = split(out_path);
    if (out.name.empty() || (history_path && split(*history_path).name.empty())) return usage();
    if (history_path && same_path(out_path, *history_path)) {
        std::fprintf(stderr, "polyprov: --out and --history name the same file\n");
        return 2;
    }

    std::optional<TrustAnchors> cas;
    try {
        cas = TrustAnchors::load_pem_file(ca_path);
    } catch (const Error& e) {
        return refuse(2, e.what());
    }
    std::vector<CrlSource> sources = crl_sources(cas->certificates());
    for (const auto& [name, value] : o.named)
        if (name == "--from") apply_from(sources, encode_spaces(value));
    if (sources.empty())
        return refuse(2, ca_path + ": no certificate in it names an http(s) CRL distribution point; "
                                   "name the CRLs with --from URL");

    const std::time_t now = std::time(nullptr);
    std::optional<CrlSet> set;
    try {
        std::vector<FetchedCrl> fetched;
        for (auto& s : sources) {
            const Download got = http_get_bytes(s.url, kMaxCrlBytes, timeout);
            const std::string where = got.final_url == s.url ? s.url : s.url + " (redirected to " + got.final_url + ")";
            fetched.push_back({s.url, decode_crl(got.body, where), std::move(s.expected_issuers)});
        }
        set = CrlSet::check(std::move(fetched), cas->certificates(), ca_path, now, min_valid);
    } catch (const DownloadError& e) {
        return refuse(2, e.what());
    } catch (const Error& e) {
        return refuse(1, e.what());
    }

    // From here on, under the lock of the history's directory, then the
    // CRLs': the installed CRLs and the history the new files derive from
    // cannot change under us, so two runs cannot lose each other's entries.
    std::optional<LockedDirectory> history_dir, crl_dir;
    std::optional<std::string> old_crls, old_history;
    std::optional<RevocationHistory> history;
    try {
        if (history_path) history_dir.emplace(split(*history_path).dir);
        if (!history_path || !same_path(split(*history_path).dir, out.dir)) crl_dir.emplace(out.dir);
        old_crls = current_content(out_path);
        if (history_path) {
            old_history = current_content(*history_path);
            // A history that does not parse is not overwritten: it would lose entries.
            history = old_history ? RevocationHistory::parse(*old_history, *history_path) : RevocationHistory();
        }
    } catch (const Error& e) {
        return refuse(2, e.what());
    }
    RevocationHistory::Merged merged;
    try {
        if (old_crls) {
            // What is installed now, when it can be read: never go back to an older CRL.
            std::vector<X509CrlPtr> installed;
            try {
                installed = parse_pem_crls(*old_crls, out_path);
            } catch (const Error&) {
            }
            set->require_not_older_than(installed, out_path);
        }
        if (history) {
            for (const auto& crl : set->crls()) {
                const auto m = history->merge(crl, now);
                merged.added += m.added;
                merged.updated += m.updated;
            }
        }
    } catch (const Error& e) {
        return refuse(1, e.what());
    }

    for (const auto& crl : set->crls()) {
        const CrlFacts facts = describe_crl(crl.crl(), crl.origin(), now);
        std::printf("%-14s%s (%s)\n", "crl:", crl_summary(facts).c_str(),
                    freshness_note(facts, classify(facts, kCrlWarnSeconds)).c_str());
    }

    // The history goes first (or with the CRLs, in one directory): a crash
    // between the two leaves a history ahead of the CRLs, never behind.
    const std::string crl_text = set->pem();
    const bool crls_changed = !old_crls || *old_crls != crl_text;
    std::optional<FileContent> new_history;
    if (history) {
        std::string text = history->serialize();
        if (!old_history || *old_history != text) new_history = FileContent{split(*history_path).name, std::move(text)};
    }
    bool history_written = false;
    try {
        if (!crl_dir) {
            std::vector<FileContent> files;
            if (new_history) files.push_back(*new_history);
            if (crls_changed) files.push_back({out.name, crl_text});
            if (!files.empty()) history_dir->write_files(files, 0644);
        } else {
            if (new_history) history_dir->write_files({*new_history}, 0644);
            history_written = new_history.has_value();
            if (crls_changed) crl_dir->write_files({{out.name, crl_text}}, 0644);
        }
    } catch (const Error& e) {
        std::fprintf(stderr, "polyprov: %s%s\n", e.what(),  // it says what was left
                     history_written ? (" (" + *history_path + " was updated)").c_str() : "");
        return 2;
    }
    if (history)
        std::printf("%-14s%s: %zu certificate%s, %zu new, %zu updated\n", new_history ? "history:" : "unchanged:",
                    history_path->c_str(), history->size(), history->size() == 1 ? "" : "s", merged.added,
                    merged.updated);
    std::printf("%-14s%s (SSLCARevocationFile: %zu CRLs)\n", crls_changed ? "wrote:" : "unchanged:", out_path.c_str(),
                set->crls().size());
    return 0;
}

}  // namespace polyprov::cli
