// The operator's page: one HTML document, readable at a glance, with
// tables sortable by a few lines of inline script. Everything from a client
// goes through html_text().

#include <polyprov/fleet_render.hpp>

#include <algorithm>
#include <map>
#include <vector>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include <polyprov/escape.hpp>

namespace polyprov {
namespace {

constexpr const char* kStyle = R"(
:root{color-scheme:light;--ink:#1d2430;--muted:#5c6878;--line:#d9dee5;--bg:#f5f7fa;--card:#fff;
--bad:#b3261e;--bad-bg:#fde7e5;--warn:#8a5a00;--warn-bg:#fff3d6;--good:#1e6b3a;--good-bg:#e3f4e8}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",sans-serif;color:var(--ink);background:var(--bg)}
header{padding:18px 28px;background:#20304a;color:#fff}
header h1{margin:0;font-size:22px;font-weight:600}
header p{margin:4px 0 0;color:#c9d3e3}
main{padding:18px 28px 40px;max-width:1500px}
.tiles{display:grid;grid-template-columns:repeat(auto-fit,minmax(170px,1fr));gap:12px;margin:0 0 18px;padding:0}
.tile{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:12px 14px}
.tile dt{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.04em}
.tile dd{margin:2px 0 0;font-size:28px;font-weight:650}
.tile dd small{display:block;font-size:13px;font-weight:400;color:var(--muted)}
.tile.bad{border-color:var(--bad);background:var(--bad-bg)}.tile.bad dd{color:var(--bad)}
.tile.warn{border-color:#e0b95c;background:var(--warn-bg)}.tile.warn dd{color:var(--warn)}
.tile.good dd{color:var(--good)}
.notice{margin:0 0 12px;padding:10px 14px;border-radius:6px;background:var(--warn-bg);border:1px solid #e0b95c}
section{background:var(--card);border:1px solid var(--line);border-radius:8px;margin:0 0 16px;padding:12px 16px;overflow-x:auto}
h2{font-size:16px;margin:2px 0 10px}
h2 .count{color:var(--muted);font-weight:400}
.pair{display:grid;grid-template-columns:repeat(auto-fit,minmax(320px,1fr));gap:16px}
.pair section{margin:0}
.pair{margin:0 0 16px}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:5px 8px;border-bottom:1px solid var(--line);vertical-align:top;white-space:nowrap}
td.wrap{white-space:normal;overflow-wrap:anywhere;min-width:200px;max-width:420px}
th{font-size:12px;color:var(--muted);font-weight:600;cursor:pointer;user-select:none;background:#fafbfc;position:sticky;top:0}
th[aria-sort=ascending]::after{content:" \25B2"}th[aria-sort=descending]::after{content:" \25BC"}
tbody tr:nth-child(even){background:#fafbfc}
td.num{text-align:right;font-variant-numeric:tabular-nums}
code,.mac{font-family:ui-monospace,"DejaVu Sans Mono",monospace;font-size:13px}
small{color:var(--muted)}
.tag{display:inline-block;padding:0 6px;border-radius:9px;font-size:12px;margin-right:3px}
.tag.bad{background:var(--bad-bg);color:var(--bad)}.tag.warn{background:var(--warn-bg);color:var(--warn)}
.tag.good{background:var(--good-bg);color:var(--good)}.tag.info{background:#e6edf7;color:#23436e}
.none{color:var(--muted);margin:4px 0}
footer{color:var(--muted);padding:0 28px 24px}
.notice.bad{background:var(--bad-bg);border-color:var(--bad)}
tr.more td{color:var(--muted);font-style:italic;white-space:normal}
form.search{display:flex;flex-wrap:wrap;gap:8px;align-items:center;margin:0 0 10px}
form.search input[type=search]{flex:1 1 260px;max-width:420px;padding:5px 8px;border:1px solid var(--line);border-radius:6px;font:inherit}
form.search button{padding:5px 12px;border:1px solid #20304a;border-radius:6px;background:#20304a;color:#fff;font:inherit;cursor:pointer}
nav.pager{display:flex;flex-wrap:wrap;gap:6px;align-items:center;margin:10px 0 0}
nav.pager a,nav.pager span{padding:2px 9px;border:1px solid var(--line);border-radius:6px;text-decoration:none;color:#23436e}
nav.pager span.current{background:#20304a;color:#fff;border-color:#20304a}
nav.pager span.gap{border:0}
#devices td{white-space:normal}
#devices td.mac,#devices td.nowrap{white-space:nowrap}
)";

constexpr const char* kScript = R"(
(function () {
  function key(cell) {
    var v = cell.getAttribute('data-v');
    return v !== null ? v : cell.textContent.trim().toLowerCase();
  }
  var number = /^-?\d+(\.\d+)?$/;
  function compare(a, b) {
    if (number.test(a) && number.test(b)) return parseFloat(a) - parseFloat(b);
    return a < b ? -1 : a > b ? 1 : 0;
  }
  function sort(table, column, direction) {
    var body = table.tBodies[0], heads = table.tHead.rows[0].cells;
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (r, s) { return direction * compare(key(r.cells[column]), key(s.cells[column])); });
    rows.forEach(function (r) { body.appendChild(r); });
    for (var i = 0; i < heads.length; i++) heads[i].removeAttribute('aria-sort');
    heads[column].setAttribute('aria-sort', direction > 0 ? 'ascending' : 'descending');
  }
  Array.prototype.forEach.call(document.querySelectorAll('table.sortable'), function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (head, column) {
      head.tabIndex = 0;
      function go() { sort(table, column, head.getAttribute('aria-sort') === 'ascending' ? -1 : 1); }
      head.addEventListener('click', go);
      head.addEventListener('keydown', function (e) { if (e.key === 'Enter') go(); });
    });
  });
  var wanted = /^#sort=([a-z-]+):(\d+):(asc|desc)$/.exec(location.hash);
  var table = wanted && document.getElementById(wanted[1]);
  if (table && table.tHead.rows[0].cells[+wanted[2]]) sort(table, +wanted[2], wanted[3] === 'asc' ? 1 : -1);
})();
)";

std::string csp_hash(const char* text) {
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256(reinterpret_cast<const unsigned char*>(text), std::char_traits<char>::length(text), digest);
    unsigned char b64[4 * ((SHA256_DIGEST_LENGTH + 2) / 3) + 1];
    EVP_EncodeBlock(b64, digest, SHA256_DIGEST_LENGTH);
    return std::string("'sha256-") + reinterpret_cast<const char*>(b64) + "'";
}

std::string age(UnixTime t, UnixTime now) {
    const UnixTime d = now - t;
    if (d < 0) return "in " + std::to_string((-d + 86399) / 86400) + " d";
    if (d < 120) return "just now";
    if (d < 7200) return std::to_string(d / 60) + " min ago";
    if (d < 172800) return std::to_string(d / 3600) + " h ago";
    return std::to_string(d / 86400) + " d ago";
}

std::string short_time(UnixTime t) {
    std::string iso = iso8601(t);  // 2024-03-01T12:00:00Z -> 2024-03-01 12:00Z
    return iso.substr(0, 10) + " " + iso.substr(11, 5) + "Z";
}

std::string when(UnixTime t, UnixTime now) {
    if (t <= 0) return "<td data-v=\"0\"><small>never</small></td>";
    return "<td data-v=\"" + std::to_string(t) + "\">" + short_time(t) + " <small>" + age(t, now) + "</small></td>";
}

std::string cell(const std::string& text, const char* css = nullptr) {
    std::string out = css ? std::string("<td class=\"") + css + "\">" : std::string("<td>");
    return out + (text.empty() ? std::string("<small>unknown</small>") : html_text(text)) + "</td>";
}

std::string number(std::uint64_t n) {
    return "<td class=\"num\" data-v=\"" + std::to_string(n) + "\">" + std::to_string(n) + "</td>";
}

std::string mac_cell(const DeviceRecord& r) { return "<td class=\"mac\">" + r.mac.str() + "</td>"; }

std::string tag(const char* css, const std::string& text) {
    return std::string("<span class=\"tag ") + css + "\">" + html_text(text) + "</span>";
}

// An event's time (microseconds), shown to the second.
std::string when_event(EventTime t, UnixTime now) { return when(seconds_of(t), now); }

std::string request_cell(const LastRequest& q) {
    const char* css = q.decision == FleetDecision::allow && q.status < 400 ? "good" : "bad";
    return "<td class=\"wrap\" data-v=\"" + std::to_string(seconds_of(q.time)) + "\"><code>" + html_text(q.method) + " " +
           html_text(q.path) + "</code> " + tag(css, std::to_string(q.status) + " " + decision_text(q.decision)) +
           "</td>";
}

void table_head(std::string& out, const char* id, std::initializer_list<const char*> columns) {
    out += std::string("<table class=\"sortable\" id=\"") + id + "\"><thead><tr>";
    for (const char* c : columns) out += std::string("<th>") + c + "</th>";
    out += "</tr></thead><tbody>\n";
}

void section_head(std::string& out, const char* id, const std::string& title, std::size_t count) {
    out += std::string("<section id=\"") + id + "-section\"><h2>" + title + " <span class=\"count\">(" +
           std::to_string(count) + ")</span></h2>\n";
}

std::string certificate_state(const DeviceRecord& r, UnixTime now) {
    const DeviceFacts& f = r.latest;
    if (certificate_expired(r, now)) {
        if (f.waived) return tag("warn", "expired") + tag("good", "carried by the waiver");
        if (f.cert_not_after > seconds_of(f.time)) return tag("bad", "expired since last seen") + tag("warn", "needs PolyProvAcceptExpired");
        if (f.pinned) return tag("bad", "expired") + tag("bad", "pinned: not carried");
        return tag("bad", "expired") + tag("bad", "not carried by the waiver");
    }
    const UnixTime days = (f.cert_not_after - now) / 86400;
    return tag("warn", "expires in " + std::to_string(days) + " d");
}

// The tables beside the device table show this many rows, the most urgent
// first; the rest are in ?json and ?csv.
constexpr std::size_t kTableRows = 50;

void more_rows(std::string& out, std::size_t shown, std::size_t total, int columns, const char* where) {
    if (shown >= total) return;
    out += "<tr class=\"more\"><td colspan=\"" + std::to_string(columns) + "\">" + std::to_string(total - shown) +
           " more not shown here: " + where + " lists them all.</td></tr>\n";
}

std::string percent_encoded(const std::string& text) {
    static const char hex[] = "0123456789ABCDEF";
    std::string out;
    for (const unsigned char c : text) {
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
            c == '_' || c == ':')
            out += static_cast<char>(c);
        else
            out += std::string("%") + hex[c >> 4] + hex[c & 15];
    }
    return out;
}

// A link to the same page with another page number of the device table.
std::string page_link(const FleetQuery& q, std::size_t page) {
    std::string url = "?page=" + std::to_string(page);
    if (q.per_page != FleetQuery::kDefaultPerPage) url += "&amp;per_page=" + std::to_string(q.per_page);
    if (!q.search.empty()) url += "&amp;q=" + percent_encoded(q.search);
    if (q.not_seen_hours != 24) url += "&amp;hours=" + std::to_string(q.not_seen_hours);
    if (q.expiring_days != 30) url += "&amp;days=" + std::to_string(q.expiring_days);
    return url + "#devices-section";
}

void pager(std::string& out, const FleetQuery& q, std::size_t pages) {
    if (pages <= 1) return;
    const std::size_t current = std::min(q.page, pages);
    out += "<nav class=\"pager\" aria-label=\"pages of the device table\">";
    if (current > 1) out += "<a rel=\"prev\" href=\"" + page_link(q, current - 1) + "\">\xE2\x80\xB9 previous</a>";
    std::size_t last = 0;
    for (std::size_t p = 1; p <= pages; ++p) {
        const bool near = p == 1 || p == pages || (p + 2 >= current && p <= current + 2);
        if (!near) continue;
        if (last && p > last + 1) out += "<span class=\"gap\">\xE2\x80\xA6</span>";
        out += p == current ? "<span class=\"current\" aria-current=\"page\">" + std::to_string(p) + "</span>"
                            : "<a href=\"" + page_link(q, p) + "\">" + std::to_string(p) + "</a>";
        last = p;
    }
    if (current < pages) out += "<a rel=\"next\" href=\"" + page_link(q, current + 1) + "\">next \xE2\x80\xBA</a>";
    out += "</nav>\n";
}

void tile(std::string& out, const char* css, const std::string& label, std::size_t n, const std::string& note = "") {
    out += std::string("<div class=\"tile ") + css + "\"><dt>" + label + "</dt><dd>" + std::to_string(n) +
           (note.empty() ? "" : " <small>" + note + "</small>") + "</dd></div>";
}

}  // namespace

const std::string& fleet_page_csp() {
    static const std::string csp = "default-src 'none'; style-src " + csp_hash(kStyle) + "; script-src " +
                                   csp_hash(kScript) + "; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";
    return csp;
}

std::string render_fleet_html(const FleetSnapshot& snapshot, const FleetSummary& s, const FleetPageContext& c) {
    const UnixTime now = c.now;
    const std::string hours = std::to_string(c.query.not_seen_hours);
    const std::string days = std::to_string(c.query.expiring_days);
    const std::vector<const DeviceRecord*> devices = select_devices(snapshot, {});

    std::string out;
    out.reserve(65536 + std::min(c.query.per_page, devices.size()) * 1200);
    out += "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
           "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
           "<meta name=\"referrer\" content=\"no-referrer\">";
    out += "<title>Phone fleet \xC2\xB7 " + html_text(c.node) + "</title><style>" + kStyle + "</style></head><body>\n";
    out += "<header><h1>Phone fleet</h1><p>" + html_text(c.node) + " \xC2\xB7 generated " + short_time(now) +
           " \xC2\xB7 ";
    out += snapshot.nodes.size() == 1 ? std::string("1 server") : std::to_string(snapshot.nodes.size()) + " servers";
    out += " in this view";
    if (snapshot.nodes.size() > 1) {
        out += ":";
        for (const std::string& n : snapshot.nodes) out += " " + html_text(n);
    }
    out += "</p></header>\n<main>\n";

    if (c.cache_down)
        out += "<p class=\"notice\" id=\"cache-down\">This server cannot reach the fleet cache: its phones' requests "
               "are served, but not recorded until the cache answers again.</p>\n";
    if (c.dropped_updates)
        out += "<p class=\"notice\" id=\"dropped\">" + std::to_string(c.dropped_updates) +
               " request(s) on this server could not be recorded (cache unreachable or too slow).</p>\n";
    if (snapshot.updates_dropped > c.dropped_updates)
        out += "<p class=\"notice\" id=\"dropped-elsewhere\">" +
               std::to_string(snapshot.updates_dropped - c.dropped_updates) +
               " request(s) on the other servers of this view could not be recorded.</p>\n";
    if (!snapshot.complete()) {
        out += "<p class=\"notice bad\" id=\"capacity\"><strong>This view is not the whole fleet.</strong> ";
        if (snapshot.missing || snapshot.lost)
            out += std::to_string(snapshot.missing + snapshot.lost) + " device record(s) written by the servers are no "
                   "longer in the cache. ";
        if (snapshot.evicted_lately)
            out += "The cache evicted " + std::to_string(snapshot.evicted) + " index entr(y/ies), the last at " +
                   short_time(snapshot.last_eviction) + ": a device evicted then and not seen since is missing. ";
        if (snapshot.without_manifest)
            out += std::to_string(snapshot.without_manifest) + " server(s) lost their manifest: what went with it is not "
                   "known. ";
        out += "The cache is too small for the fleet (or was restarted): give it more room, as the PolyProvFleet "
               "reference says. Devices return to the view when they next check in.</p>\n";
    }
    if (snapshot.unreadable)
        out += "<p class=\"notice\" id=\"unreadable\">" + std::to_string(snapshot.unreadable) +
               " cache entr(y/ies) could not be read and were skipped.</p>\n";

    out += "<dl class=\"tiles\" id=\"tiles\">";
    tile(out, "good", "Devices", s.devices);
    tile(out, s.not_seen ? "warn" : "", "Not seen for " + hours + " h", s.not_seen);
    tile(out, s.expired > s.expired_waived ? "bad" : s.expired ? "warn" : "", "Certificates expired", s.expired,
         std::to_string(s.expired_waived) + " carried by the waiver");
    tile(out, s.expiring ? "warn" : "", "Expiring within " + days + " d", s.expiring);
    tile(out, s.refused ? "bad" : "", "Refused devices", s.refused);
    tile(out, s.probes ? "bad" : "", "Probing attempts", s.probes,
         s.probe_requests ? std::to_string(s.probe_requests) + (s.probe_requests == 1 ? " request" : " requests") : "");
    out += "</dl>\n";

    // Phones not seen for N hours, longest silence first.
    std::vector<const DeviceRecord*> silent;
    for (const DeviceRecord* r : devices)
        if (seconds_of(r->latest.time) < now - static_cast<UnixTime>(c.query.not_seen_hours) * 3600) silent.push_back(r);
    std::sort(silent.begin(), silent.end(),
              [](const DeviceRecord* a, const DeviceRecord* b) { return a->latest.time < b->latest.time; });
    section_head(out, "not-seen", "Not seen for " + hours + " hours", silent.size());
    if (silent.empty()) {
        out += "<p class=\"none\">Every device was seen within " + hours + " hours.</p>";
    } else {
        table_head(out, "not-seen", {"MAC", "Label", "Model", "Last seen", "Last request", "Address"});
        for (std::size_t i = 0; i < silent.size() && i < kTableRows; ++i) {
            const DeviceRecord* r = silent[i];
            out += "<tr>" + mac_cell(*r) + cell(r->latest.label) + cell(r->agent.model) + when_event(r->latest.time, now) +
                   request_cell(r->latest.request) + cell(r->latest.address) + "</tr>\n";
        }
        more_rows(out, kTableRows, silent.size(), 6, "the device table, sorted by last seen, or ?csv,");
        out += "</tbody></table>";
    }
    out += "</section>\n";

    // Certificates expired or running out, soonest first.
    std::vector<const DeviceRecord*> certs;
    for (const DeviceRecord* r : devices)
        if (certificate_expired(*r, now) || certificate_expiring(*r, now, c.query.expiring_days)) certs.push_back(r);
    std::sort(certs.begin(), certs.end(), [](const DeviceRecord* a, const DeviceRecord* b) {
        return a->latest.cert_not_after < b->latest.cert_not_after;
    });
    section_head(out, "certificates", "Certificates expired or expiring within " + days + " days", certs.size());
    if (certs.empty()) {
        out += "<p class=\"none\">No certificate has expired or expires within " + days + " days.</p>";
    } else {
        table_head(out, "certificates", {"MAC", "Label", "Model", "Not after", "State", "Last seen"});
        for (std::size_t i = 0; i < certs.size() && i < kTableRows; ++i) {
            const DeviceRecord* r = certs[i];
            out += "<tr>" + mac_cell(*r) + cell(r->latest.label) + cell(r->agent.model) +
                   when(r->latest.cert_not_after, now) + "<td>" + certificate_state(*r, now) + "</td>" +
                   when_event(r->latest.time, now) + "</tr>\n";
        }
        more_rows(out, kTableRows, certs.size(), 6, "<code>polyprov fleet --expiring</code>, ?json or ?csv");
        out += "</tbody></table>";
    }
    out += "</section>\n";

    // Refused: the phones to add to the list, and certificates that do not verify.
    std::size_t refused_rows = 0;
    std::string rows;
    for (const DeviceRecord& r : snapshot.records) {
        for (const FleetDecision d : {FleetDecision::not_in_acl, FleetDecision::unverified}) {
            const std::uint32_t n = r.denials[static_cast<std::size_t>(d)];
            if (!n) continue;
            const RefusalFacts& f = d == FleetDecision::not_in_acl ? r.not_in_acl : r.unverified;
            const bool now_allowed = r.latest.time > f.last_seen;
            if (refused_rows++ >= kTableRows) continue;
            rows += "<tr>" + mac_cell(r) + "<td>" +
                    tag("bad", decision_reason(d)) +
                    (d == FleetDecision::not_in_acl ? " not on the ACL: add it if it is yours"
                                                    : " certificate did not verify, or is not the pinned one") +
                    (now_allowed ? " " + tag("good", "allowed since") : "") + "</td>" + number(n) +
                    when_event(f.last_seen, now) + cell(f.address) + "</tr>\n";
        }
    }
    section_head(out, "refused", "Refused devices", refused_rows);
    if (!refused_rows) {
        out += "<p class=\"none\">No device was refused as unlisted or unverified.</p>";
    } else {
        table_head(out, "refused", {"MAC", "Reason", "Requests", "Last seen", "Address"});
        out += rows;
        more_rows(out, kTableRows, refused_rows, 5, "?json");
        out += "</tbody></table>";
    }
    out += "</section>\n";

    // Probes: certificates that asked for another phone's file.
    section_head(out, "probes", "Probing attempts: another phone's file", s.probes);
    if (!s.probes) {
        out += "<p class=\"none\">No certificate asked for another phone's file.</p>";
    } else {
        table_head(out, "probes", {"Certificate MAC", "Label", "Address", "Path", "Requests", "Last seen"});
        std::size_t shown = 0;
        for (const DeviceRecord& r : snapshot.records)
            for (const Probe& p : r.probes)
                if (shown++ < kTableRows)
                    out += "<tr>" + mac_cell(r) + cell(r.latest.label) + cell(p.address) + "<td class=\"wrap\"><code>" +
                           html_text(p.path) + "</code></td>" + number(p.count) + when_event(p.last_seen, now) + "</tr>\n";
        more_rows(out, kTableRows, s.probes, 6, "?json");
        out += "</tbody></table>";
    }
    out += "</section>\n";

    // Firmware and models across the fleet, the most common first.
    const auto counted = [&](const char* id, const char* title, const char* column,
                             const std::map<std::string, std::size_t>& counts) {
        std::vector<std::pair<std::string, std::size_t>> by_count(counts.begin(), counts.end());
        std::stable_sort(by_count.begin(), by_count.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
        section_head(out, id, title,
                     std::count_if(by_count.begin(), by_count.end(), [](const auto& kv) { return !kv.first.empty(); }));
        table_head(out, id, {column, "Devices"});
        for (std::size_t i = 0; i < by_count.size() && i < kTableRows; ++i)
            out += "<tr>" + cell(by_count[i].first) + number(by_count[i].second) + "</tr>\n";
        more_rows(out, kTableRows, by_count.size(), 2, "?csv");
        out += "</tbody></table></section>\n";
    };
    out += "<div class=\"pair\">";
    counted("firmware", "Firmware versions", "Firmware", s.firmware);
    counted("models", "Models", "Model", s.models);
    out += "</div>\n";

    // Every device: searched, a page at a time.
    const std::vector<const DeviceRecord*> found =
        c.query.search.empty() ? devices : select_devices(snapshot, c.query.search);
    const std::size_t pages = std::max<std::size_t>(1, (found.size() + c.query.per_page - 1) / c.query.per_page);
    const std::size_t page = std::min(c.query.page, pages);
    const std::size_t first = (page - 1) * c.query.per_page;
    const std::size_t last = std::min(found.size(), first + c.query.per_page);
    section_head(out, "devices", "All devices", devices.size());
    out += "<form class=\"search\" method=\"get\" action=\"#devices-section\" role=\"search\">"
           "<input type=\"search\" name=\"q\" maxlength=\"64\" aria-label=\"search the devices\" "
           "placeholder=\"MAC, label, model, firmware or address\" value=\"" + html_text(c.query.search) + "\">";
    if (c.query.per_page != FleetQuery::kDefaultPerPage)
        out += "<input type=\"hidden\" name=\"per_page\" value=\"" + std::to_string(c.query.per_page) + "\">";
    out += "<button type=\"submit\">Search</button><small id=\"shown\">";
    if (found.empty())
        out += c.query.search.empty() ? "no devices" : "no device matches";
    else
        out += std::to_string(first + 1) + "\xE2\x80\x93" + std::to_string(last) + " of " + std::to_string(found.size()) +
               (c.query.search.empty() ? std::string(" devices") : " matching \xE2\x80\x9C" + html_text(c.query.search) + "\xE2\x80\x9D");
    out += " \xC2\xB7 page " + std::to_string(page) + " of " + std::to_string(pages) +
           " \xC2\xB7 <a href=\"?csv" + (c.query.search.empty() ? std::string() : "&amp;q=" + percent_encoded(c.query.search)) +
           "\">CSV</a></small></form>\n";
    pager(out, c.query, pages);
    table_head(out, "devices", {"MAC", "Label", "Model", "Last seen", "Last request", "Address", "Certificate",
                                "Activity", "Denials"});
    for (std::size_t i = first; i < last; ++i) {
        const DeviceRecord* r = found[i];
        const DeviceFacts& f = r->latest;
        std::string cert = f.cert_not_after ? short_time(f.cert_not_after).substr(0, 10) : "<small>unknown</small>";
        if (certificate_expired(*r, now)) cert += " " + tag("bad", "expired");
        if (f.waived) cert += " " + tag("warn", "waived");
        if (f.pinned) cert += " " + tag("info", "pinned");
        std::string denials;
        std::uint64_t total = 0;
        for (std::size_t d = 1; d < kFleetDecisions; ++d) {
            if (!r->denials[d]) continue;
            denials += tag("bad", std::string(decision_reason(static_cast<FleetDecision>(d))) + " " +
                                      std::to_string(r->denials[d]));
            total += r->denials[d];
        }
        // First seen, last config fetch and last upload, one line each.
        const UnixTime uploaded = seconds_of(r->last_upload.time);
        const UnixTime fetched = seconds_of(r->last_config_fetch);
        std::string activity = "<td data-v=\"" + std::to_string(seconds_of(r->first_seen)) + "\"><small>first " +
                               (r->first_seen ? age(seconds_of(r->first_seen), now) : std::string("never")) +
                               " <br>config " + (fetched ? age(fetched, now) : std::string("never")) + " <br>upload " +
                               (uploaded ? age(uploaded, now) : std::string("never"));
        if (uploaded && r->last_upload.bytes) activity += ", " + std::to_string(*r->last_upload.bytes) + " bytes";
        activity += "</small></td>";
        // The model with its firmware; the whole User-Agent on hover.
        const std::string model = "<td title=\"" + html_text(f.user_agent) + "\">" +
                                  (r->agent.model.empty() ? std::string("<small>unknown</small>") : html_text(r->agent.model)) +
                                  (r->agent.firmware.empty() ? std::string() : " <br><small>" + html_text(r->agent.firmware) + "</small>") +
                                  "</td>";
        out += "<tr>" + mac_cell(*r) + cell(f.label) + model + when_event(f.time, now) + request_cell(f.request) +
               cell(f.address, "nowrap") + "<td data-v=\"" + std::to_string(f.cert_not_after) + "\">" + cert + "</td>" +
               activity + "<td data-v=\"" + std::to_string(total) + "\">" + denials + "</td></tr>\n";
    }
    if (found.empty())
        out += "<tr class=\"more\"><td colspan=\"9\">" +
               std::string(c.query.search.empty() ? "No device has been seen yet." : "No device matches.") + "</td></tr>\n";
    out += "</tbody></table>";
    pager(out, c.query, pages);
    out += "</section>\n</main>\n";
    out += "<footer>The same data: <a href=\"?json\">?json</a> (offset= and limit= for a part) \xC2\xB7 "
           "<a href=\"?csv\">?csv</a> \xC2\xB7 counters: <a href=\"?auto\">?auto</a> "
           "\xC2\xB7 <a href=\"?hours=" + hours + "&amp;days=" + days + "\">this page</a> takes hours=, days=, q=, "
           "page= and per_page=. Click a column to sort the rows shown.</footer>\n";
    out += "<script>" + std::string(kScript) + "</script>\n</body></html>\n";
    return out;
}

}  // namespace polyprov
