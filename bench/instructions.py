"""Instructions per keep-alive GET, counted by callgrind: the server's cost
of one request, stock vs the module, independent of what else the machine
is doing (a count, not a time; the same binary and inputs give the same
figure run after run).

The servers are bench/servers.py's (the keep-alive benchmark's
configuration: Debian's settings, the same vhost, files and PKI), with
prefork instead of event so that one process serves everything: apache2
-X under valgrind per case; one keep-alive TLS connection with a phone's
client certificate sends FEW then MANY GETs of its 2 kB config;
(instructions after MANY - after FEW) / (MANY - FEW) is the per-request
cost, startup and handshake cancelled out.

  stock    the vhost without any PolyProv directive (the module not loaded)
  module   PolyProvRequireDevice on with a 100,000-device ACL (the MAC in
           the path checked), PolyProvAcceptExpired leaf (the waiver installed)
  fleet    module, and PolyProvFleet shmcb: every request recorded (its
           updater thread's work included, as it runs in the same process)
  fleet-redis-N
           fleet recording into a real redis-server that already holds N
           other devices (recorded first by N phones, each with its own
           certificate, through a server that is then stopped): whether
           a request's cost grows with the fleet (issue 18)
  stock-log, module-log
           stock and module with an access log line that names
           %{POLYPROV_MAC}e %{POLYPROV_DECISION}e %{SSL_CLIENT_VERIFY}x, as
           operators' CustomLog lines do

usage: bench/instructions.py MODULE.so [FEW] [MANY]
(fleet-redis-N needs bench/fleetvisit, built by `make check`, and N phones in
the bench PKI cache: generated on first use)

To see where the instructions go: KEEP=1 keeps each case's server root
(its callgrind/ holds the two runs' files) and prints where; CASES="stock
module" runs only those; then bench/callgrind_diff.py ROOT_A ROOT_B MODULE.so
lists the functions whose per-request cost differs.
"""

import http.client
import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time

from common import use_module

use_module(sys.argv[1])

import phone_pki  # noqa: E402
import servers  # noqa: E402
from harness.apache import HTTPD, free_port  # noqa: E402
from harness.fleet import CacheServer, socache_load_line  # noqa: E402

FLEETVISIT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(sys.argv[1]))), "bench", "fleetvisit")

FEW = int(sys.argv[2]) if len(sys.argv) > 2 else 50
MANY = int(sys.argv[3]) if len(sys.argv) > 3 else 550


def instructions(apache, pki, requests):
    """Instructions (Ir) of the server process serving `requests` GETs: its
    main thread's, and its other threads' together."""
    # Written at exit, by then as the server's User: a directory it may write.
    outdir = os.path.join(apache.root, "callgrind")
    os.makedirs(outdir, exist_ok=True)
    os.chmod(outdir, 0o777)
    out = os.path.join(outdir, f"callgrind.{requests}")
    # Started as the unprivileged user: callgrind opens its output file at
    # start, and an httpd started as root could no longer write it after
    # switching to its User.
    user = ["setpriv", "--reuid=www-data", "--regid=www-data", "--clear-groups"] if os.geteuid() == 0 else []
    proc = subprocess.Popen(user + ["valgrind", "--tool=callgrind", "--separate-threads=yes",
                                    f"--callgrind-out-file={out}.%p",
                                    HTTPD, "-X", "-f", apache.conf], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        d = pki["phones"][0]
        ctx = ssl.create_default_context(cafile=pki["server_ca"])
        ctx.load_cert_chain(d["cert"], d["key"])
        deadline = time.monotonic() + 120
        while True:
            try:
                conn = http.client.HTTPSConnection("localhost", apache.port, context=ctx, timeout=60)
                conn.connect()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        for _ in range(requests):
            conn.request("GET", f"/{d['mac']}.cfg")
            r = conn.getresponse()
            r.read()
            assert r.status == 200, r.status
        conn.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=120)
    # One file per thread: the request thread's count, and what the
    # module's own threads (the fleet updater) did in the whole run, which
    # follows the clock and the cache rather than the number of requests.
    main = others = 0
    for name in os.listdir(outdir):
        m = re.fullmatch(rf"callgrind\.{requests}\.(\d+)-(\d+)", name)
        if m and int(m.group(1)) == proc.pid:
            with open(os.path.join(outdir, name)) as f:
                ir = int(re.search(r"^summary: (\d+)", f.read(), re.M).group(1))
            if int(m.group(2)) == 1:
                main += ir
            else:
                others += ir
    return main, others

class FleetFiller(servers.BenchApache):
    """The module recording into `spec`, with ?auto on a plain vhost: fills
    the cache with a fleet before the measured server starts."""

    def __init__(self, site, spec, acl):
        super().__init__("fleet", site, acl=acl, extra_server=socache_load_line("redis") +
                         "LoadModule authz_host_module /usr/lib/apache2/modules/mod_authz_host.so\n")
        self.spec, self.status_port = spec, free_port()

    def vhost(self):
        text = super().vhost().replace(f"    PolyProvFleet shmcb:{self.root}/run/fleet(4194304)",
                                       f"    PolyProvFleet {self.spec}")
        return text + (f"Listen 127.0.0.1:{self.status_port}\n<VirtualHost 127.0.0.1:{self.status_port}>\n"
                       f"    PolyProvFleet {self.spec}\n    <Location /fleet>\n        SetHandler polyprov-status\n"
                       "        Require ip 127.0.0.1\n    </Location>\n</VirtualHost>\n")

    def devices(self):
        import urllib.request
        with urllib.request.urlopen(f"http://127.0.0.1:{self.status_port}/fleet?auto", timeout=120) as r:
            return int(dict(line.split(": ", 1) for line in r.read().decode().splitlines())["Devices"])


def fill(site, spec, acl, phones):
    """Records `phones` into the cache at `spec`, each phone one new TLS
    connection and one GET; returns once the view holds them all."""
    filler = FleetFiller(site, spec, acl)
    filler.start()
    try:
        p = subprocess.run([FLEETVISIT, str(filler.port), site.pki["server_ca"], "/000000000000.cfg", "8"],
                           input="".join(f"{ph['mac']} {ph['cert']} {ph['key']}\n" for ph in phones),
                           capture_output=True, text=True, check=True)
        assert f"status 200 {len(phones)}" in p.stdout, p.stdout[-500:]
        deadline = time.monotonic() + 300
        while filler.devices() < len(phones):
            assert time.monotonic() < deadline, "the fleet was not recorded in 300 s"
            time.sleep(1)
    finally:
        filler.stop()
        shutil.rmtree(filler.root, ignore_errors=True)


work = tempfile.mkdtemp(prefix="polyprov-bench-instr-")
os.chmod(work, 0o755)
CASES = os.environ.get("CASES", "stock module fleet").split()
FLEET_SIZES = [int(c.rsplit("-", 1)[1]) for c in CASES if c.startswith("fleet-redis-")]
pki = phone_pki.load(1 + max(FLEET_SIZES, default=0))
# apache2 runs as its User from the start here (see instructions()): a
# copy of the throwaway server key it can read.
server = []
for path in pki["server"]["rsa"]:
    shutil.copy(path, work)
    server.append(os.path.join(work, os.path.basename(path)))
    os.chmod(server[-1], 0o644)
pki = {**pki, "server": {"rsa": tuple(server)}}
site = servers.Site(pki, 1)
acl = os.path.join(work, "phones.acl")
with open(acl, "w") as f:
    f.write(f"{pki['phones'][0]['mac']} label=bench\n")
    f.writelines(f"0004F3{i:06X}\n" for i in range(99999))
    f.writelines(f"{ph['mac']}\n" for ph in pki["phones"][1:])
os.chmod(acl, 0o644)
results = {}
background = {}
try:
    for case in CASES:
        kind, _, variant = case.partition("-")
        cache = None
        extra = "KeepAliveTimeout 300\nMaxKeepAliveRequests 0\n"
        if variant.startswith("redis-"):
            cache = CacheServer("redis")
            cache.start()
            fill(site, cache.provider(), acl, pki["phones"][1:1 + int(variant.split("-")[1])])
            extra += socache_load_line("redis")
        apache = servers.BenchApache(kind, site, acl=acl, mpm="prefork", log_vars=variant == "log",
                                     extra_server=extra)
        if cache:
            apache.vhost = lambda a=apache, c=cache: servers.BenchApache.vhost(a).replace(
                f"PolyProvFleet shmcb:{a.root}/run/fleet(4194304)", f"PolyProvFleet {c.provider()}")
        for d in ("logs", "run"):   # written by apache2 running as its User from the start
            os.chmod(os.path.join(apache.root, d), 0o777)
        apache.write_config()
        try:
            few, many = instructions(apache, pki, FEW), instructions(apache, pki, MANY)
        finally:
            if cache:
                cache.stop()
                cache.cleanup()
        results[case] = (many[0] - few[0]) / (MANY - FEW)
        background[case] = (few[1], many[1])
        if os.environ.get("KEEP"):
            print(f"{case}: kept {apache.root}")
        else:
            shutil.rmtree(apache.root, ignore_errors=True)
    base = results.get("stock")
    base_log = results.get("stock-log", base)
    print(f"instructions per keep-alive GET of a phone's 2 kB <MAC>.cfg (callgrind, apache2 -X, prefork; "
          f"({MANY} - {FEW}) requests on one TLS connection)")
    for case, per in results.items():
        ref, ref_name = (base_log, "stock-log") if case.endswith("-log") else (base, "stock")
        threads = background[case]
        print(f"{case:16} {per:8.0f}" + (f"  x{per / ref:.3f} of {ref_name}" if ref else "") +
              (f"  (other threads: {threads[0]:,} and {threads[1]:,} in the whole runs)" if any(threads) else ""))
finally:
    site.remove()
    shutil.rmtree(work, ignore_errors=True)
