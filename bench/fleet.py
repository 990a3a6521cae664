"""Per-request cost of the fleet view: keep-alive GETs over TLS with a
phone's client certificate against two vhosts of one apache2 (event MPM),
same run, same files, same access check:

  access   PolyProvRequireDevice on and a PolyProvACLFile; PolyProvFleet none
  fleet    the same, and PolyProvFleet PROVIDER (shmcb, memcache or redis;
           memcached / redis-server are started on a loopback port)

Both vhosts decide every request; only the second records it. CLIENTS
processes each open one connection and send REQUESTS GETs on it. Cases
alternate over ROUNDS (5 or more for a figure); medians and the ratio to
"access" are printed, with the fleet view's own count of requests it could
not record (it drops rather than wait). Target: fleet >= 0.98 x access.
The order of the two cases alternates from round to round.
Only 127.0.0.1.

usage: bench/fleet.py MODULE.so [REQUESTS] [CLIENTS] [ROUNDS] [PROVIDER]
"""

import http.client
import multiprocessing
import os
import shutil
import ssl
import sys
import tempfile
import time

from common import print_table, server_cpu_seconds, use_module

use_module(sys.argv[1])

from harness import pki as pki_mod  # noqa: E402
from harness.apache import Apache, free_port, new_server_root  # noqa: E402
from harness.fleet import CacheServer, counters, socache_load_line  # noqa: E402
from harness.vhosts import tls_vhost  # noqa: E402

requests = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
clients = int(sys.argv[3]) if len(sys.argv) > 3 else 2
rounds = int(sys.argv[4]) if len(sys.argv) > 4 else 5
provider = sys.argv[5] if len(sys.argv) > 5 else "shmcb"
MAC = pki_mod.DEVICES["valid"]


def client(args):
    port, cert, key, ca, n = args
    ctx = ssl.create_default_context(cafile=ca)
    ctx.load_cert_chain(cert, key)
    conn = http.client.HTTPSConnection("localhost", port, context=ctx)
    for _ in range(n):
        conn.request("GET", f"/{MAC}.cfg", headers={"User-Agent": "FileTransport PolycomVVX-VVX_500-UA/5.9.7.4477"})
        r = conn.getresponse()
        r.read()
        if r.status != 200:
            raise RuntimeError(f"status {r.status}")
    conn.close()


def run(pool, port, pki):
    """Returns (requests/s, server CPU microseconds per request)."""
    d = pki["devices"]["valid"]
    cpu0, start = server_cpu_seconds(apache.proc.pid), time.monotonic()
    pool.map(client, [(port, d["cert"], d["key"], pki["server_ca"], requests)] * clients)
    elapsed, cpu = time.monotonic() - start, server_cpu_seconds(apache.proc.pid) - cpu0
    return requests * clients / elapsed, cpu * 1e6 / (requests * clients)


work = tempfile.mkdtemp(prefix="polyprov-bench-")
pki = pki_mod.generate(os.path.join(work, "pki"), server_names=("localhost",))
acl = os.path.join(work, "phones.acl")
with open(acl, "w") as f:
    f.write(f"{MAC} label=bench\n")
    f.writelines(f"0004F3{i:06X}\n" for i in range(999))
apache = Apache(new_server_root())
docs = os.path.join(apache.root, "htdocs")
with open(os.path.join(docs, f"{MAC}.cfg"), "w") as f:
    f.write("<config/>\n" * 40)
os.chmod(os.path.join(docs, f"{MAC}.cfg"), 0o644)
cache = CacheServer(provider) if provider != "shmcb" else None
spec = f"shmcb:{apache.root}/run/fleet(4194304)" if not cache else cache.provider()
ports = {"access": apache.port, "fleet": free_port()}
directory = (f"    <Directory {docs}>\n        PolyProvRequireDevice on\n        PolyProvACLFile {acl}\n"
             f"    </Directory>\n")
status = "    <Location /fleet>\n        SetHandler polyprov-status\n        PolyProvRequireDevice off\n    </Location>\n"
vhosts = socache_load_line(provider) + f"Listen 127.0.0.1:{ports['fleet']}\nKeepAliveTimeout 30\nMaxKeepAliveRequests 0\n"
vhosts += tls_vhost(ports["access"], "localhost", pki, verify="require", extra=directory + "    PolyProvFleet none\n")
vhosts += tls_vhost(ports["fleet"], "localhost", pki, verify="require",
                    extra=directory + status + f"    PolyProvFleet {spec}\n")

try:
    if cache:
        cache.start()
    apache.start(vhosts, log_level="warn")
    results = {name: [] for name in ports}
    with multiprocessing.Pool(clients) as pool:
        run(pool, ports["access"], pki)  # warm up both
        run(pool, ports["fleet"], pki)
        # ABBA: which case runs first alternates, so a drift within a round
        # (another process on the machine, a warming cache) favours neither.
        for i in range(rounds):
            for name in (list(ports) if i % 2 == 0 else list(reversed(ports))):
                results[name].append(run(pool, ports[name], pki))
    d = pki["devices"]["valid"]
    time.sleep(1.5)  # the last flush
    dropped = counters(ports["fleet"], host="localhost", cacert=pki["server_ca"], cert=d["cert"],
                       key=d["key"])["UpdatesDropped"]
    print_table(f"keep-alive GET of a 440-byte <MAC>.cfg over TLS with a client certificate; fleet view in {provider}; "
                f"{clients} clients x {requests} requests x {rounds} rounds, event MPM", "req/s", results, "access")
    print(f"fleet view: {dropped} of {(rounds + 1) * clients * requests} requests not recorded (dropped, not waited for)")
finally:
    apache.stop()
    if cache:
        cache.cleanup()
    shutil.rmtree(apache.root, ignore_errors=True)
    shutil.rmtree(work, ignore_errors=True)
