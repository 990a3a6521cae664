// polyprov fleet: the fleet view's summary from a server's status page
// (its ?json), and for cron the phones whose certificates run out.

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>

#include <polyprov/error.hpp>
#include <polyprov/fleet_report.hpp>
#include <polyprov/json_reader.hpp>
#include <polyprov/printable.hpp>

#include "commands.hpp"
#include "http_get.hpp"

namespace polyprov::cli {
namespace {

constexpr std::size_t kMaxJsonBytes = 64u << 20;  // some 90,000 devices
constexpr int kTimeoutSeconds = 30;
constexpr int kNotSeenHours = 24;
constexpr int kExpiringDays = 30;

int usage() {
    std::fputs("usage: polyprov fleet URL [--cert FILE --key FILE] [--cacert FILE] [--expiring DAYS]\n", stderr);
    return 2;
}

std::string json_url(std::string url) {
    const std::size_t hash = url.find('#');
    if (hash != std::string::npos) url.erase(hash);
    return url + (url.find('?') == std::string::npos ? "?json" : "&json");
}

std::string counted(const std::map<std::string, std::size_t>& counts) {
    std::string out;
    for (const auto& [name, n] : counts) {
        if (!out.empty()) out += ", ";
        out += (name.empty() ? std::string("unknown") : printable(name)) + " (" + std::to_string(n) + ")";
    }
    return out.empty() ? "none" : out;
}

}  // namespace

int fleet(const Args& args) {
    Options o;
    if (!parse_options(args, {"--cert", "--key", "--cacert", "--expiring"}, o) || o.positional.size() != 1)
        return usage();
    ClientTls tls;
    if (const auto* v = o.get("--cert")) tls.cert = *v;
    if (const auto* v = o.get("--key")) tls.key = *v;
    if (const auto* v = o.get("--cacert")) tls.cacert = *v;
    if (tls.cert.empty() != tls.key.empty()) {
        std::fputs("polyprov: --cert and --key go together\n", stderr);
        return 2;
    }
    int days = -1;
    if (const std::string* d = o.get("--expiring")) {
        char* end = nullptr;
        const long v = std::strtol(d->c_str(), &end, 10);
        if (d->empty() || *end || v < 0 || v > 3650) {
            std::fputs("polyprov: --expiring takes whole days, 0 to 3650\n", stderr);
            return 2;
        }
        days = static_cast<int>(v);
    }

    const std::string url = json_url(o.positional[0]);
    std::string body;
    try {
        body = http_get_body(url, tls, kMaxJsonBytes, kTimeoutSeconds);
    } catch (const DownloadError& e) {
        std::fprintf(stderr, "polyprov: %s\n", e.what());
        return 2;
    }
    std::string error;
    const auto json = JsonValue::parse(body, error);
    const auto report = json ? read_fleet_report(*json, error) : std::nullopt;
    if (!report) {
        std::fprintf(stderr, "polyprov: %s: not the fleet JSON (SetHandler polyprov-status?): %s\n", url.c_str(),
                     error.c_str());
        return 2;
    }

    const UnixTime now = static_cast<UnixTime>(std::time(nullptr));
    const ReportSummary s = summarize_report(*report, now, kNotSeenHours, kExpiringDays);
    std::printf("%-14s%s, generated %s\n", "fleet of:", printable(report->node).c_str(),
                report->generated ? iso8601(*report->generated).c_str() : "(unknown)");
    std::printf("%-14s%zu, %zu not seen for %d hours\n", "devices:", s.devices, s.not_seen, kNotSeenHours);
    std::printf("%-14s%zu expired (%zu carried by the waiver), %zu expiring within %d days\n", "certificates:",
                s.expired, s.expired_waived, s.expiring, kExpiringDays);
    std::printf("%-14s%zu (not on the ACL, or the certificate did not verify)\n", "refused:", report->refused);
    std::printf("%-14s%zu (%llu requests for another phone's file)\n", "probes:", report->probes,
                static_cast<unsigned long long>(report->probe_requests));
    std::printf("%-14s%s\n", "firmware:", counted(s.firmware).c_str());
    std::printf("%-14s%s\n", "models:", counted(s.models).c_str());
    if (days < 0) return 0;

    const auto expiring = expiring_devices(*report, now, days);
    std::printf("\ncertificates expired or expiring within %d days: %zu\n", days, expiring.size());
    bool attention = false;
    for (const ExpiringDevice& e : expiring) {
        const ReportedDevice& d = *e.device;
        std::string state;
        if (e.expired)
            state = e.needs_attention ? (d.pinned ? "EXPIRED, pinned: refused" : "EXPIRED, not carried by the waiver")
                                      : "expired, carried by the waiver";
        else
            state = "expires in " + std::to_string((*d.cert_not_after - now) / 86400) + " days";
        std::printf("  %-13s %-21s %-36s %s\n", printable(d.mac).c_str(),
                    d.cert_not_after ? iso8601(*d.cert_not_after).c_str() : "(unknown)", state.c_str(),
                    printable(d.label).c_str());
        attention = attention || e.needs_attention;
    }
    return attention ? 1 : 0;
}

}  // namespace polyprov::cli
