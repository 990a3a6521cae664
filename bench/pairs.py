"""Two servers, one measurement, in strict pairs: stock and module (or any
two of bench/servers.py's kinds) measured one right after the other, the
order swapped every round, so that a drift of the machine's speed falls on
both halves of a pair. Prints each round, the medians, and the ratios of
the pairs (B / A): a narrower view than bench/run-all's rotation over four
servers, for a figure run-all leaves unresolved.

usage: bench/pairs.py MODULE.so WHAT [ROUNDS] [SECONDS] [A B]

  WHAT:
  keepalive            ab -k -c 4 GETs of a phone's config (as run-all's keep-alive section)
  keepalive-firmware   the same, of the 3 MB firmware image
  tls1_3, tls1_2       openssl s_time -new: a full handshake with the phone's certificate and one GET
  stormN               a boot storm of N phones (bench/bootstorm.py, as run-all's), each
                       on a freshly started server once its workers are up; "rate" is
                       phones per second until all were served, "server" the server's
                       CPU per phone (SECONDS is not used); a round in which a phone
                       failed is reported and its pair left out; needs
                       BUILD_DIR/bench/phoneboot beside the module's .libs
  A, B        kinds of bench/servers.py (stock, module, fleet ..., example: the
              shipped vhost and tuning, nginx: the operators' recipe); a "-log"
              suffix adds the access log fields operators log
              (%{POLYPROV_MAC}e %{POLYPROV_DECISION}e %{SSL_CLIENT_VERIFY}x);
              "+Directive=value" adds a server-wide directive, a lever of
              Apache's own (module+EnableMMAP=off; on example it comes after
              the tuning file, so it overrides a line there)
"""

import os
import statistics
import sys

from common import use_module

use_module(sys.argv[1])

import bootstorm  # noqa: E402
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


def storm_once(name):
    client = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(sys.argv[1]))), "bench", "phoneboot")
    res, _ = bootstorm.on_fresh_server(lambda: server(name), client, site, pki["phones"][:storm], pki["server_ca"])
    if res["errors"]:
        print(f"  {name}: {res['errors']} phones failed: {res['error_examples']}", flush=True)
    print(f"  {name}: all served {res['all_served_s']:.2f} s, retries {res['retries']}, resumed "
          f"{res['resumed_handshakes']}, listen drops {res['listen_drops']}, PSS idle "
          f"{res['pss_kb_idle'] / 1024:.1f} MB ({res['threads_idle']} threads), after {res['pss_kb_after'] / 1024:.1f} MB",
          flush=True)
    return {"rate": storm / res["all_served_s"], "server_us": res["server_cpu_s"] / storm * 1e6,
            "failed": res["errors"]}


# The servers of a keep-alive or handshake measurement run for all rounds;
# a storm's are started anew for each (storm_once).
srv = {} if storm else {name: server(name) for name in (a, b)}


def one(name):
    if storm:
        return storm_once(name)
    if what == "keepalive":
        return measure.keepalive(srv[name], phone, f"/{phone['mac']}.cfg", seconds, 4)
    if what == "keepalive-firmware":
        return measure.keepalive(srv[name], phone, f"/{servers.FIRMWARE}", seconds, 4)
    return measure.s_time(srv[name], phone, what, seconds)


res = {a: [], b: []}
try:
    for name, s in srv.items():
        s.start()
        one(name)   # warm up: children started, files cached
    for r in range(rounds):
        for name in ((a, b) if r % 2 == 0 else (b, a)):
            x = one(name)
            res[name].append(x)
            print(f"round {r + 1} {name}: {x['rate']:.0f}/s, server {x['server_us']:.0f} µs/op", flush=True)
finally:
    for s in srv.values():
        s.remove()
    site.remove()

# A round in which a phone failed is not a measurement of the same work:
# its pair is left out of the medians and the ratios.
kept = [i for i in range(rounds) if not (res[a][i].get("failed") or res[b][i].get("failed"))]
if len(kept) < rounds:
    print(f"left out: {rounds - len(kept)} pairs with failed phones")
if not kept:
    sys.exit("no pair without failures")
for name in (a, b):
    print(f"{name}: median {statistics.median(res[name][i]['rate'] for i in kept):.0f}/s, "
          f"server {statistics.median(res[name][i]['server_us'] for i in kept):.0f} µs/op")
pairs = sorted(res[b][i]["rate"] / res[a][i]["rate"] for i in kept)
ratio = statistics.median(res[b][i]["rate"] for i in kept) / statistics.median(res[a][i]["rate"] for i in kept)
print(f"{b} / {a}: ratio of medians {ratio:.3f}, "
      f"pairs {', '.join(f'{p:.3f}' for p in pairs)} (median {statistics.median(pairs):.3f})")
