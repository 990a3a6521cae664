"""The fleet view at the size of a real fleet: PHONES phones, each with its
own certificate (bench/phone_pki.py), each opening one new TLS connection
and fetching 000000000000.cfg once (bench/fleetvisit, 8 threads a node),
against apache2 (Debian's event settings, the module with
PolyProvRequireDevice on and an ACL listing every phone) recording into:

  shmcb        one server, shmcb sized as the reference says (1 KiB a phone)
  memcache     one server and a real memcached on loopback
  redis        one server and a real redis-server on loopback
  memcache-3   three servers (three apache2, three nodes) sharing one
  redis-3      memcached / redis-server, the phones spread over them

For each: how long the phones took and the servers' CPU per phone; how
long after the last phone the view held them all (?auto's Devices); the
full ?json, one ?json page (limit=100), the HTML page and ?auto, each
fetched ROUNDS times from every node (medians, and the slowest); whether
every node's JSON lists exactly the phones and says it is complete; the
memory of the cache server (RSS, and memcached's own count of bytes held)
and of apache2 (PSS of all its processes). Then, after two sweep cycles
(65 s) with no phone, whether the view still holds every phone (shmcb is a
ring: what is not rewritten is pushed out). With SHOTS=DIR, headless
Chromium screenshots of the page (a page of the device table, and a
search) at 1,280 px into DIR; SHMCB_BYTES=N another shmcb size than the
reference's 1 KiB a phone. Only 127.0.0.1.

usage: bench/fleet_scale.py MODULE.so [PHONES] [CASES] [ROUNDS] [OUT.json]
       bench/fleet_scale.py --report OUT.json > bench/FLEET_SCALE.md
"""

import json
import os
import shutil
import statistics
import subprocess
import sys
import time
import urllib.request

import common


def report(path):
    """The figures of a run as the Markdown page bench/FLEET_SCALE.md."""
    with open(path) as f:
        results = json.load(f)
    out = ["# The fleet view at scale: measured", "",
           f"`bench/fleet_scale.py`, {results[0]['phones']:,} phones with their own certificates, each one new TLS "
           "connection and one GET; event MPM, Debian's settings, the module with an ACL of every phone; the cache "
           "server on loopback. Fetch times are medians (and the slowest) of every node's fetches over the rounds; "
           "this 2-core VM also runs the client. Regenerate: `python3 bench/fleet_scale.py MODULE.so 100000 "
           "shmcb,memcache,redis,memcache-3,redis-3 5 OUT.json` then `--report OUT.json`.", "",
           "| case | phones served | server CPU / phone | view whole after | `?json` (all) | `?json&limit=100` | "
           "page | `?auto` | on every node | 65 s later | idle CPU (the sweep) | apache2 PSS | cache server RSS |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        f = r["fetch_seconds"]
        fetch = lambda k: f"{f[k]['median']:.2f} s ({f[k]['max']:.2f})"  # noqa: E731
        every = all(c["exactly_the_phones"] and c["capacity"]["complete"] for c in r["json_checks"])
        later = all(a["exactly_the_phones"] and a["complete"] for a in r.get("after_65s", []))
        ok = r["statuses"].get("200", r["statuses"].get(200, 0))
        out.append(f"| {r['case']} (`{r['spec'].split('/')[0] if r['spec'].startswith('shmcb') else r['spec'].split(':')[0]}`) "
                   f"| {ok:,} of {r['phones']:,} in {r['visit_seconds']} s | {r['server_cpu_ms_per_phone']} ms "
                   f"| {r['recorded_after_seconds']} s | {fetch('json')}, {r['bytes']['json'] / 1e6:.1f} MB "
                   f"| {fetch('json_page')} | {fetch('html')} | {fetch('auto')} "
                   f"| {'all, complete' if every else 'NOT ALL'} | {'all, complete' if later else 'NOT ALL'} "
                   f"| {str(r['idle_cpu_percent']) + ' %' if 'idle_cpu_percent' in r else '-'} "
                   f"| {', '.join(f'{m:.0f}' for m in r['apache_pss_mib'])} MiB "
                   f"| {str(r['cache_rss_mib']) + ' MiB' if 'cache_rss_mib' in r else '-'} |")
    return "\n".join(out) + "\n"


if sys.argv[1] == "--report":
    print(report(sys.argv[2]), end="")
    sys.exit(0)

common.use_module(sys.argv[1])

import phone_pki  # noqa: E402
from servers import BenchApache, Site  # noqa: E402
from harness.apache import free_port  # noqa: E402
from harness.browser import chromium  # noqa: E402
from harness.fleet import CacheServer, socache_load_line  # noqa: E402

phones = int(sys.argv[2]) if len(sys.argv) > 2 else 100000
cases = (sys.argv[3] if len(sys.argv) > 3 else "shmcb,memcache,redis,memcache-3,redis-3").split(",")
rounds = int(sys.argv[4]) if len(sys.argv) > 4 else 5
out_path = sys.argv[5] if len(sys.argv) > 5 else None
BUILD = os.path.dirname(os.path.dirname(os.path.abspath(sys.argv[1])))
CLIENT = os.path.join(BUILD, "bench", "fleetvisit")
SHMCB_BYTES_PER_PHONE = 1024


class FleetNode(BenchApache):
    """The bench's module server recording into `spec`, with the status
    page on a plain-HTTP vhost of its own (Require ip 127.0.0.1)."""

    def __init__(self, site, spec, provider):
        super().__init__("module", site, extra_server=socache_load_line(provider) + "LoadModule authz_host_module "
                         "/usr/lib/apache2/modules/mod_authz_host.so\n")
        self.spec, self.status_port = spec.replace("ROOT", self.root), free_port()

    def vhost(self):
        text = super().vhost().replace("    PolyProvAcceptExpired leaf",
                                       f"    PolyProvFleet {self.spec}\n    PolyProvAcceptExpired leaf")
        return text + f"""Listen 127.0.0.1:{self.status_port}
<VirtualHost 127.0.0.1:{self.status_port}>
    ServerName localhost
    PolyProvFleet {self.spec}
    <Location /fleet>
        SetHandler polyprov-status
        Require ip 127.0.0.1
    </Location>
</VirtualHost>
"""

    def fetch(self, query, timeout=120):
        start = time.monotonic()
        with urllib.request.urlopen(f"http://127.0.0.1:{self.status_port}/fleet{query}", timeout=timeout) as r:
            body = r.read()
        return time.monotonic() - start, body

    def pss_kib(self):
        total = 0
        for pid, _ in common.group_processes(self.proc.pid):
            try:
                with open(f"/proc/{pid}/smaps_rollup") as f:
                    total += sum(int(line.split()[1]) for line in f if line.startswith("Pss:"))
            except OSError:
                pass
        return total


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


def memcached_stats(port):
    import socket
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"stats\r\n")
        data = b""
        while not data.endswith(b"END\r\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    return dict(line.split()[1:3] for line in data.decode().splitlines() if line.startswith("STAT "))


def counters(node):
    _, body = node.fetch("?auto")
    return dict(line.split(": ", 1) for line in body.decode().splitlines())


def visit(nodes, shares, server_ca):
    """Every node's share of phones at once; (wall seconds, statuses)."""
    procs = []
    start = time.monotonic()
    for node, share in zip(nodes, shares):
        p = subprocess.Popen([CLIENT, str(node.port), server_ca, "/000000000000.cfg", "8"], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
        p.stdin.write("".join(f"{ph['mac']} {ph['cert']} {ph['key']}\n" for ph in share))
        p.stdin.close()
        procs.append(p)
    statuses = {}
    for p in procs:
        for line in p.stdout:
            parts = line.split()
            if parts[0] == "status":
                statuses[int(parts[1])] = statuses.get(int(parts[1]), 0) + int(parts[2])
            elif parts[0] == "error":
                print("  client:", line.strip())
        p.wait()
    return time.monotonic() - start, statuses


def run_case(case, pki, site):
    provider, _, n = case.partition("-")
    n_nodes = int(n or 1)
    cache = CacheServer(provider) if provider != "shmcb" else None
    if cache and provider == "memcache":
        cache.command = lambda: [shutil.which("memcached"), "-l", "127.0.0.1", "-p", str(cache.port), "-U", "0",
                                 "-t", "2", "-m", "1024"] + (["-u", "nobody"] if os.geteuid() == 0 else [])
    shmcb_bytes = int(os.environ.get("SHMCB_BYTES", max(2 << 20, phones * SHMCB_BYTES_PER_PHONE)))
    spec = f"shmcb:ROOT/run/fleet({shmcb_bytes})" if not cache else cache.provider()
    nodes = []
    result = {"case": case, "phones": phones, "nodes": n_nodes, "spec": spec}
    try:
        if cache:
            cache.start()
        for _ in range(n_nodes):
            node = FleetNode(site, spec, provider)
            node.start()
            nodes.append(node)
        shares = [site.phones[k::n_nodes] for k in range(n_nodes)]
        cpu0 = sum(node.cpu_seconds() for node in nodes)
        wall, statuses = visit(nodes, shares, pki["server_ca"])
        cpu = sum(node.cpu_seconds() for node in nodes) - cpu0
        done = time.monotonic()
        result.update(visit_seconds=round(wall, 1), statuses=statuses,
                      server_cpu_ms_per_phone=round(cpu * 1000 / phones, 2))
        print(f"{case}: {phones} phones in {wall:.1f} s, statuses {statuses}, server CPU {cpu * 1000 / phones:.2f} ms/phone")

        # The view holds them all when every node's ?auto says so.
        deadline = done + 300
        while time.monotonic() < deadline:
            seen = [int(counters(node)["Devices"]) for node in nodes]
            if min(seen) >= phones:
                break
            time.sleep(0.5)
        result["recorded_after_seconds"] = round(time.monotonic() - done, 1)
        result["devices_on_each_node"] = seen
        print(f"  view complete {result['recorded_after_seconds']} s after the last phone (devices per node: {seen})")

        timings = {"json": [], "json_page": [], "html": [], "auto": []}
        sizes = {}
        for r in range(rounds):
            for node in nodes:
                for name, query in (("json", "?json"), ("json_page", "?json&offset=50000&limit=100"),
                                    ("html", "?page=500"), ("auto", "?auto")):
                    seconds, body = node.fetch(query)
                    timings[name].append(seconds)
                    sizes[name] = len(body)
                    if name == "json" and r == 0:
                        doc = json.loads(body)
                        macs = {d["mac"] for d in doc["devices"]}
                        result.setdefault("json_checks", []).append({
                            "node": doc["node"], "devices": len(doc["devices"]), "total": doc["total"],
                            "exactly_the_phones": macs == {p["mac"] for p in site.phones},
                            "capacity": doc["capacity"]})
        result["fetch_seconds"] = {k: {"median": round(statistics.median(v), 3), "max": round(max(v), 3)}
                                   for k, v in timings.items()}
        result["bytes"] = sizes
        result["apache_pss_mib"] = [round(node.pss_kib() / 1024, 1) for node in nodes]
        if cache:
            result["cache_rss_mib"] = round(rss_kib(cache.proc.pid) / 1024, 1)
            if provider == "memcache":
                result["memcached_bytes"] = int(memcached_stats(cache.port).get("bytes", 0))
        shots = os.environ.get("SHOTS")
        if shots and n_nodes == 1:
            os.makedirs(shots, exist_ok=True)
            target = site.phones[phones // 2]["mac"]
            for name, query in ((f"fleet-{phones}-page.png", "?page=500"), (f"fleet-{phones}-search.png", f"?q={target[6:]}")):
                chromium(f"--screenshot={shots}/{case}-{name}", "--window-size=1280,1400",
                         f"http://127.0.0.1:{nodes[0].status_port}/fleet{query}", timeout=180)
        for k, v in result["fetch_seconds"].items():
            print(f"  {k:10} median {v['median']:.3f} s, slowest {v['max']:.3f} s, {sizes[k]:,} bytes")
        for check in result["json_checks"]:
            print(f"  {check['node']}: {check['devices']} devices, exactly the phones: {check['exactly_the_phones']}, "
                  f"complete: {check['capacity']['complete']}")
        print(f"  apache2 PSS {result['apache_pss_mib']} MiB" +
              (f", cache server RSS {result['cache_rss_mib']} MiB" if cache else ""))
        # Two sweep cycles of a ring with no phone: still every phone? And
        # what the sweep costs the idle servers meanwhile.
        idle0 = sum(node.cpu_seconds() for node in nodes)
        time.sleep(65)
        result["idle_cpu_percent"] = round(100 * (sum(node.cpu_seconds() for node in nodes) - idle0) / 65, 1)
        print(f"  idle servers' CPU over 65 s (the sweep): {result['idle_cpu_percent']} % of a core")
        after = []
        for node in nodes:
            doc = json.loads(node.fetch("?json")[1])
            after.append({"devices": len(doc["devices"]), "complete": doc["capacity"]["complete"],
                          "exactly_the_phones": {d["mac"] for d in doc["devices"]} == {p["mac"] for p in site.phones}})
        result["after_65s"] = after
        print(f"  65 s later: {after}")
        result["problems"] = []
    finally:
        for node in nodes:
            result.setdefault("problems", []).extend(node.remove())
        if cache:
            cache.cleanup()
    return result


pki = phone_pki.load(phones)
site = Site(pki, phones)
results = []
try:
    for case in cases:
        results.append(run_case(case, pki, site))
finally:
    site.remove()
if out_path:
    with open(out_path, "w") as f:
        json.dump(results, f, indent=1)
