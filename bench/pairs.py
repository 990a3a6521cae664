"""Two servers, one measurement, in strict pairs: stock and module (or any
two of bench/servers.py's kinds) measured one right after the other, the
order swapped every round, so that a drift of the machine's speed falls on
both halves of a pair. Prints each round, the medians, and the ratios of
the pairs (B / A): a narrower view than bench/run-all's rotation over four
servers, for a figure run-all leaves unresolved.

usage: bench/pairs.py MODULE.so keepalive|tls1_3|tls1_2|stormN [ROUNDS] [SECONDS] [A B]

  keepalive-firmware   the same, of the 3 MB firmware image
  stormN      a boot storm of N phones (bench/bootstorm.py, as run-all's),
              each on a freshly started server; "rate" is phones per second
              until all were served, "server" the server's CPU per phone
              (SECONDS is not used); needs BUILD_DIR/bench/phoneboot beside
              the module's .libs
  A, B        kinds of bench/servers.py (stock, module, fleet ..., example: the
              shipped vhost and tuning, nginx: the operators' recipe); a "-log"
              suffix adds the access log fields operators log
              (%{POLYPROV_MAC}e %{POLYPROV_DECISION}e %{SSL_CLIENT_VERIFY}x);
              "+Directive=value" adds a server-wide directive, a lever of
              Apache's own (module+EnableMMAP=off)

  keepalive   ab -k -c 4 GETs of a phone's config (as run-all's keep-alive section)
  tls1_x      openssl s_time -new: a full handshake with the phone's certificate and one GET
"""

import os
import statistics
import sys

from common import use_module

use_module(sys.argv[1])

import measure  # noqa: E402
import phone_pki  # noqa: E402
import servers  # noqa: E402

what = sys.argv[2]
rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 8
seconds = int(sys.argv[4]) if len(sys.argv) > 4 else 5
a, b = (sys.argv[5], sys.argv[6]) if len(sys.argv) > 6 else ("stock", "module")

storm = int(what[5:]) if what.startswith("storm") else 0
pki = phone_pki.load(max(1, storm))
site = servers.Site(pki, max(1, storm))
phone = pki["phones"][0]


def server(name):
    if name == "nginx":
        return servers.Nginx(site)
    kind, *levers = name.split("+")
    extra = "".join(lever.replace("=", " ") + "\n" for lever in levers)
    if kind == "example":
        return servers.ExampleApache(site, extra_server=extra)
    return servers.BenchApache(kind.removesuffix("-log"), site, log_vars=kind.endswith("-log"), extra_server=extra)


class FreshEachTime:
    """A storm's server: started anew for each measurement, as one that sat
    idle before the power came back (empty session caches)."""

    def __init__(self, name):
        self.name = name

    def start(self):
        pass

    def remove(self):
        pass


srv = {name: FreshEachTime(name) if storm else server(name) for name in (a, b)}


def storm_once(name):
    import time
    import bootstorm
    import measure
    client = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(sys.argv[1]))), "bench", "phoneboot")
    s = server(name)
    s.start()
    try:
        site.clear_logs()
        time.sleep(1)
        cpu0, drops0 = s.cpu_seconds(), measure.listen_drops()
        res = bootstorm.storm(client, s.port, pki["phones"][:storm], pki["server_ca"])
        cpu = s.cpu_seconds() - cpu0
        if res["errors"]:
            print(f"  {name}: {res['errors']} phones failed: {res['error_examples']}", flush=True)
        print(f"  {name}: all served {res['all_served_s']:.2f} s, retries {res['retries']}, resumed "
              f"{res['resumed_handshakes']}, listen drops {measure.listen_drops() - drops0}", flush=True)
        return {"rate": storm / res["all_served_s"], "server_us": cpu / storm * 1e6}
    finally:
        s.remove()


def one(server):
    if storm:
        return storm_once(server.name)
    if what == "keepalive":
        return measure.keepalive(server, phone, f"/{phone['mac']}.cfg", seconds, 4)
    if what == "keepalive-firmware":
        return measure.keepalive(server, phone, f"/{servers.FIRMWARE}", seconds, 4)
    return measure.s_time(server, phone, what, seconds)


res = {a: [], b: []}
try:
    for s in srv.values():
        s.start()
        if not storm:
            one(s)   # warm up: children started, files cached
    for r in range(rounds):
        for name in ((a, b) if r % 2 == 0 else (b, a)):
            x = one(srv[name])
            res[name].append(x)
            print(f"round {r + 1} {name}: {x['rate']:.0f}/s, server {x['server_us']:.0f} µs/op", flush=True)
finally:
    for s in srv.values():
        s.remove()
    site.remove()

for name in (a, b):
    print(f"{name}: median {statistics.median(x['rate'] for x in res[name]):.0f}/s, "
          f"server {statistics.median(x['server_us'] for x in res[name]):.0f} µs/op")
pairs = sorted(y["rate"] / x["rate"] for x, y in zip(res[a], res[b]))
print(f"{b} / {a}: ratio of medians {statistics.median(y['rate'] for y in res[b]) / statistics.median(x['rate'] for x in res[a]):.3f}, "
      f"pairs {', '.join(f'{p:.3f}' for p in pairs)} (median {statistics.median(pairs):.3f})")
