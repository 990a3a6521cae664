"""The fleet view at scale, with real TLS handshakes (one per phone).

What it proves, on each provider (shmcb, a real memcached, a real
redis-server started and stopped by the test):

- 5,000 phones (POLYPROV_SCALE_PHONES), each with its own certificate (CN =
  its MAC, issued by the test PKI's Issuing CA 1 like harness/pki.py's valid
  device; one shared key), each make one new TLS connection and one GET:
  every one is answered 200, and once the updaters have flushed, the JSON
  lists exactly those MACs (no more, no fewer, no duplicates), says
  "total" = N and "capacity"."complete" = true with nothing missing, lost
  or evicted; ?auto says `Devices: N`; the HTML page counts N devices, its
  device table (paged) holds every MAC, and it shows no id="capacity"
  notice. shmcb is given 16 MiB (POLYPROV_SCALE_SHMCB), memcached its
  harness 16 MB.
- A shmcb far too small for the fleet (SMALL_SHMCB): the phones are served
  all the same; the view says it is incomplete ("complete" false, the page's
  id="capacity" notice, PP515/PP513 in the error log) and accounts for every
  phone: devices listed + missing + lost + evicted >= N. Nothing is dropped
  silently.
- Three servers sharing one memcached or redis-server (NODE_PHONES phones
  spread round-robin over them): every node's page lists every phone.
- The page at that size in a real headless Chromium (shmcb): a page of the
  device table further in and a search, each with its DOM read after the
  page's script ran and a screenshot at 1,280 px saved as an artefact
  (fleet-scale-page.png, fleet-scale-search.png beside fleet-status.png).
- The page at 100,000 devices (POLYPROV_SCALE_SEEDED) on a real redis-server:
  the cache is seeded by tests/tools/fleet_seed, the core's own writer, as
  another node (100,000 handshakes would take about 4 minutes; bench/
  fleet_scale.py makes them), and 50 phones check in for real. JSON in MAC
  order and paged by offset/limit, the CSV, ?auto, and in Chromium page 500
  of the table and a search by label, with screenshots (fleet-N-*.png).

Timings (certificate generation, serving, time until the view is complete,
the JSON's size and fetch time) are printed: run with -s to see them. Each
provider's share stays well under 3 minutes on a 2-core machine."""

import contextlib
import json
import math
import os
import re
import shutil
import subprocess
import sys
import time

import pytest

from harness import many_phones
from harness.apache import MODULE, Apache, free_port, new_server_root
from harness.fleet import (FLEET_MODULES, counters, fetch, fleet_site, plain_status_vhost, socache_load_line,
                           wait_for)

N = int(os.environ.get("POLYPROV_SCALE_PHONES", many_phones.DEFAULT_PHONES))
# Phones of the three-node case (spread over the nodes), from the same set.
NODE_PHONES = min(N, int(os.environ.get("POLYPROV_SCALE_NODE_PHONES", 3000)))
BIG_SHMCB = int(os.environ.get("POLYPROV_SCALE_SHMCB", 16 * 1024 * 1024))
# Found by trying, with 5,000 phones: 512 KiB keeps about 1,300 of them and
# loses index entries too (PP515). At 1 MiB about half are kept, the page
# says so, but only records are lost: the updaters see nothing to log.
SMALL_SHMCB = 512 * 1024
MEMCACHED_MB = 16
# Until the view is whole after the last phone: the updaters flush about once
# a second; the rest is slack for a loaded machine.
VIEW_TIMEOUT = 15  # under the ring sweep (30 s), which would hide a count written wrong
CLIENT_THREADS = 4
# Per-request debug lines of thousands of handshakes would only slow the
# servers and the log checks down.
LOG_LEVEL = "warn polyprov:info"
# What no fleet-scale server may log, expected or not.
FORBIDDEN = re.compile(r"\[polyprov:(error|crit|alert|emerg)\]|PP9\d\d|PP549|PP51[02]|exit signal|AH00052|AH00144")

DEVICES_SECTION = re.compile(r'<section id="devices-section">(.*?)</section>', re.S)
MAC_CELL = re.compile(r'<td class="mac">([0-9A-F]{12})</td>')
DEVICES_TILE = re.compile(r"<dt>Devices</dt><dd>(\d+)")


def report(label, **timings):
    print(f"\n[fleet scale] {label}: " + ", ".join(
        f"{k}={v:.2f}s" if isinstance(v, float) else f"{k}={v}" for k, v in timings.items()))


@pytest.fixture(scope="session")
def phones(pki, tmp_path_factory):
    """N phone certificates for the whole run (issuing them is the slow part)."""
    out = str(tmp_path_factory.mktemp("many-phones"))
    phone_set = many_phones.generate(pki, out, N)
    report(f"{N} phone certificates", generated=phone_set.seconds)
    yield phone_set
    shutil.rmtree(out, ignore_errors=True)


@contextlib.contextmanager
def fleet_nodes(kind, pki, phone_set, nodes=1, shmcb_bytes=BIG_SHMCB, listed=None):
    """`nodes` apache2 servers recording into one `kind` cache, every phone of
    `listed` (default: all) on their ACL, each with the status page on a
    plain-HTTP vhost too (node.plain, Require ip 127.0.0.1), for a browser
    that holds no client certificate. Yields (cache or None, [Apache])."""
    cache = many_phones.BigCacheServer(kind, megabytes=MEMCACHED_MB) if kind != "shmcb" else None
    servers = []
    acl = phone_set.acl_lines(listed)
    try:
        if cache:
            cache.start()
        for i in range(nodes):
            node = Apache(new_server_root(), mpm="prefork" if i % 2 else "event")
            servers.append(node)
            spec = f"shmcb:{node.root}/run/fleet({shmcb_bytes})" if cache is None else cache.provider()
            node.plain = free_port()
            config = fleet_site(node.root, node.port, pki,
                                socache_load_line(kind) + f"PolyProvFleet {spec}\n") + plain_status_vhost(node.plain)
            with open(os.path.join(node.root, "conf", "phones.acl"), "a") as f:
                f.write(acl)
            node.start(config, extra_modules=FLEET_MODULES, log_level=LOG_LEVEL)
        yield cache, servers
    finally:
        # Every server stopped, even when one's stop reports a problem.
        problems = []
        for node in servers:
            try:
                node.stop()
            except AssertionError as e:
                problems.append(str(e))
        if cache:
            cache.cleanup()
        if sys.exc_info()[0] is None:  # else the test's own failure says more
            assert not problems, "\n".join(problems)
    for node in servers:
        log = node.read_error_log()
        if not os.environ.get("POLYPROV_KEEP"):
            shutil.rmtree(node.root, ignore_errors=True)
        assert not FORBIDDEN.search(log), "\n".join(
            line for line in log.splitlines() if FORBIDDEN.search(line))[:3000]
        # The harness says `Mutex file:... default`, as Debian does: fcntl()
        # locks, which the fleet's mutex must not use (AH00144 under prefork).
        assert "PP506" in log, "the fleet mutex kept fcntl()"


def serve_all(ports, phone_set, phones=None):
    served = many_phones.serve(ports, phone_set, phones=phones, threads=CLIENT_THREADS)
    n = served.handshakes
    assert served.statuses == {200: n}, (dict(served.statuses), served.failures)
    assert served.wrong_mac == 0, ("a phone was taken for another", served.failures)
    return served


def json_doc(node, pki):
    """(document, body size, seconds) of one ?json."""
    start = time.monotonic()
    r = fetch(node.port, "/fleet?json", cacert=pki["server_ca"], timeout=60)
    elapsed = time.monotonic() - start
    assert r.ok and r.status == 200, (r.status, r.error, r.body[:300])
    assert r.headers.get("content-type") == "application/json"
    return json.loads(r.body), len(r.body), elapsed


def listed_macs(doc):
    macs = [d["mac"] for d in doc["devices"]]
    assert len(macs) == len(set(macs)), "a MAC listed twice"
    return set(macs)


def wait_for_every_phone(node, pki, expected):
    """Seconds until the node's JSON lists every expected MAC."""
    start = time.monotonic()

    def whole():
        doc = json_doc(node, pki)[0]
        got = listed_macs(doc)
        missing = expected - got
        return got >= expected, (f"{len(got)} listed, {len(missing)} not, e.g. {sorted(missing)[:5]}; "
                                 f"capacity: {doc.get('capacity')}")
    wait_for(f"{len(expected)} phones on {node.port}'s page", whole, timeout=VIEW_TIMEOUT, interval=1)
    return time.monotonic() - start


def page_devices(node, pki):
    """The plain page, and every MAC of its device table over all its pages."""
    ca = pki["server_ca"]
    r = fetch(node.port, "/fleet", cacert=ca, timeout=60)
    assert r.ok and r.status == 200, (r.status, r.error)
    plain = r.body.decode()
    tile = DEVICES_TILE.search(plain)
    assert tile, "no Devices tile on the page"
    total = int(tile.group(1))
    seen = set()
    for page in range(1, math.ceil(total / 1000) + 2):
        r = fetch(node.port, f"/fleet?per_page=1000&page={page}", cacert=ca, timeout=60)
        assert r.ok and r.status == 200, (page, r.status, r.error)
        section = DEVICES_SECTION.search(r.body.decode())
        assert section, "no device table"
        rows = MAC_CELL.findall(section.group(1))
        if not set(rows) - seen:
            break
        seen |= set(rows)
    return plain, total, seen


def assert_whole_view(node, pki, expected):
    """The node's JSON, ?auto and page: exactly `expected`, complete."""
    n = len(expected)
    doc, size, seconds = json_doc(node, pki)
    assert listed_macs(doc) == expected
    assert counters(node.port, cacert=pki["server_ca"])["Devices"] == str(n)
    plain, total, on_pages = page_devices(node, pki)
    assert total == n
    assert on_pages == expected
    assert doc["total"] == n
    capacity = doc["capacity"]
    assert capacity["complete"] is True, capacity
    assert (capacity["missing"], capacity["lost"], capacity["evicted"], capacity["unreadable"]) == (0, 0, 0, 0), capacity
    assert 'id="capacity"' not in plain
    return size, seconds


@pytest.mark.parametrize("kind", ["shmcb", "memcache", "redis"])
def test_every_phone_on_the_page(kind, pki, phones):
    expected = set(phones.macs)
    with fleet_nodes(kind, pki, phones) as (cache, (node,)):
        served = serve_all(node.port, phones)
        view = wait_for_every_phone(node, pki, expected)
        size, seconds = assert_whole_view(node, pki, expected)
        extra = {}
        if kind == "memcache":
            stats = cache.stats()
            extra = {"memcached_bytes": stats.get("bytes"), "memcached_evictions": stats.get("evictions")}
    report(f"{kind}, {len(expected)} phones", serving=served.seconds, handshakes_per_s=f"{served.rate:.0f}",
           view_complete_after=view, json_bytes=size, json_fetch=seconds, **extra)


def test_the_page_at_scale_in_chromium(pki, phones):
    from test_fleet_page import Dom, chromium, png_size
    artefacts = os.path.join(os.path.dirname(os.path.dirname(MODULE)), "tests", "integration", "artefacts")
    os.makedirs(artefacts, exist_ok=True)
    macs = sorted(phones.macs)
    n = len(macs)
    with fleet_nodes("shmcb", pki, phones) as (_, (node,)):
        serve_all(node.port, phones)
        wait_for_every_phone(node, pki, set(macs))
        base = f"http://127.0.0.1:{node.plain}/fleet"
        # Page 3 of the device table, 100 rows a page, in MAC order.
        rc, out, err = chromium("--dump-dom", f"{base}?page=3")
        assert rc == 0, err[-2000:]
        dom = Dom()
        dom.feed(out)
        rows = [row[0] for row in dom.tables["devices"]]
        assert rows == macs[200:300]
        assert dom.text_by_id["tiles"].startswith(f"Devices {n}")
        assert f"201\u2013300 of {n} devices" in dom.text_by_id["shown"]
        # Every other table is bounded and says what it leaves out.
        assert all(len(rows) <= 51 for name, rows in dom.tables.items() if name != "devices")
        # A search for part of one phone's MAC, written with colons.
        target = macs[n // 2]
        colons = ":".join(target[i:i + 2] for i in range(0, 12, 2)).lower()
        rc, out, err = chromium("--dump-dom", f"{base}?q={colons[3:]}")
        assert rc == 0, err[-2000:]
        dom = Dom()
        dom.feed(out)
        assert [row[0] for row in dom.tables["devices"]] == [m for m in macs if target[2:] in m[2:]]
        for name, query in (("fleet-scale-page.png", "?page=3"), ("fleet-scale-search.png", f"?q={colons[3:]}")):
            shot = os.path.join(artefacts, name)
            if os.path.exists(shot):
                os.unlink(shot)
            rc, _, err = chromium(f"--screenshot={shot}", "--window-size=1280,2200", base + query)
            assert rc == 0, err[-2000:]
            assert png_size(shot) == (1280, 2200)
            assert os.path.getsize(shot) > 20000, "an empty page would compress to almost nothing"


# The page's test at the size of a real fleet: the cache is seeded with this
# many devices by tests/tools/fleet_seed (the core's own writer; 100,000
# handshakes would take minutes), beside phones that check in for real.
SEEDED = int(os.environ.get("POLYPROV_SCALE_SEEDED", 100_000))
FLEET_SEED = os.path.join(os.path.dirname(os.path.dirname(MODULE)), "tests", "tools", "fleet_seed")


def seed_redis(cache, devices, node="seeded-node:443", expire=30 * 86400):
    """`devices` made-up phones in `cache` (a redis-server), as node `node`
    records them; their MACs (upper-case hex), in order."""
    seed = subprocess.run([FLEET_SEED, node, str(devices), str(expire), str(int(time.time())), "polyprov-fleet"],
                          capture_output=True, check=True, timeout=120)
    piped = subprocess.run([shutil.which("redis-cli") or "/usr/bin/redis-cli", "-h", "127.0.0.1", "-p",
                            str(cache.port), "--pipe"], input=seed.stdout, capture_output=True, timeout=120)
    assert piped.returncode == 0 and b"errors: 0" in piped.stdout, (piped.stdout[-500:], piped.stderr[-500:])
    return [f"{0x64167F000000 + i * 7919:012X}" for i in range(devices)]


def test_the_page_at_a_hundred_thousand_devices(pki, phones):
    """A redis holding SEEDED devices of another node and 50 phones of this
    one that check in for real: the counts, JSON paging, CSV, a page of the
    table in the middle and a search, each read by a real Chromium,
    screenshots at 1,280 px (fleet-N-page.png, fleet-N-search.png, N the
    devices)."""
    from test_fleet_page import Dom, chromium, png_size
    artefacts = os.path.join(os.path.dirname(os.path.dirname(MODULE)), "tests", "integration", "artefacts")
    os.makedirs(artefacts, exist_ok=True)
    real = phones.phones[:50]
    with fleet_nodes("redis", pki, phones, listed=real) as (cache, (node,)):
        seeded = seed_redis(cache, SEEDED)
        serve_all(node.port, phones, phones=real)
        macs = sorted(seeded + [mac for mac, _ in real])
        n = len(macs)
        wait_for_every_phone(node, pki, {mac for mac, _ in real})

        doc, size, seconds = json_doc(node, pki)
        report(f"{n} devices on redis", json_size=f"{size / 1e6:.1f} MB", json=seconds)
        assert [d["mac"] for d in doc["devices"]] == macs
        assert doc["total"] == n and doc["capacity"]["complete"] is True, doc["capacity"]
        middle = n // 2
        r = fetch(node.port, f"/fleet?json&offset={middle}&limit=100", cacert=pki["server_ca"], timeout=60)
        part = json.loads(r.body)
        assert part["total"] == n and [d["mac"] for d in part["devices"]] == macs[middle:middle + 100]
        start = time.monotonic()
        r = fetch(node.port, "/fleet?csv", cacert=pki["server_ca"], timeout=60)
        report("csv", seconds=time.monotonic() - start, size=f"{len(r.body) / 1e6:.1f} MB")
        lines = r.body.decode().splitlines()
        assert len(lines) == n + 1 and lines[1].startswith(macs[0]), lines[:2]
        auto = counters(node.port, cacert=pki["server_ca"])
        assert (auto["Devices"], auto["Nodes"], auto["Complete"]) == (str(n), "2", "1"), auto

        base = f"http://127.0.0.1:{node.plain}/fleet"
        # A page in the middle of the device table, 100 rows a page, in MAC order.
        page = n // 200
        start = time.monotonic()
        rc, out, err = chromium("--dump-dom", f"{base}?page={page}")
        report(f"page {page} in chromium", seconds=time.monotonic() - start)
        assert rc == 0, err[-2000:]
        dom = Dom()
        dom.feed(out)
        assert [row[0] for row in dom.tables["devices"]] == macs[(page - 1) * 100:page * 100]
        assert dom.text_by_id["tiles"].startswith(f"Devices {n}"), dom.text_by_id["tiles"][:80]
        assert f"{(page - 1) * 100 + 1}\u2013{page * 100} of {n} devices" in dom.text_by_id["shown"], \
            dom.text_by_id["shown"]
        assert all(len(rows) <= 51 for name, rows in dom.tables.items() if name != "devices")
        # A search by label: seeded-4242 and, at 100,000, seeded-42420 to -42429.
        rc, out, err = chromium("--dump-dom", f"{base}?q=seeded-4242")
        assert rc == 0, err[-2000:]
        dom = Dom()
        dom.feed(out)
        wanted = sorted(seeded[i] for i in range(len(seeded)) if str(i).startswith("4242"))
        assert [row[0] for row in dom.tables["devices"]] == wanted
        for name, query in ((f"fleet-{n}-page.png", f"?page={page}"), (f"fleet-{n}-search.png", "?q=seeded-4242")):
            shot = os.path.join(artefacts, name)
            if os.path.exists(shot):
                os.unlink(shot)
            rc, _, err = chromium(f"--screenshot={shot}", "--window-size=1280,2200", base + query)
            assert rc == 0, err[-2000:]
            assert png_size(shot) == (1280, 2200)
            assert os.path.getsize(shot) > 20000, "an empty page would compress to almost nothing"


@pytest.mark.allow_log(r"PP51[35]")
def test_a_shmcb_too_small_says_so(pki, phones):
    n = len(phones.phones)
    ca = pki["server_ca"]
    with fleet_nodes("shmcb", pki, phones, shmcb_bytes=SMALL_SHMCB) as (_, (node,)):
        mark = node.log_mark()
        served = serve_all(node.port, phones)
        start = time.monotonic()

        def accounted():
            doc = json_doc(node, pki)[0]
            c = doc.get("capacity") or {}
            listed = len(listed_macs(doc))
            gone = c.get("missing", 0) + c.get("lost", 0) + c.get("evicted", 0)
            return c.get("complete") is False and listed + gone >= n, (listed, c)
        listed, capacity = wait_for("the view to account for every phone", accounted, timeout=VIEW_TIMEOUT, interval=1)
        settled = time.monotonic() - start
        doc, size, seconds = json_doc(node, pki)
        assert listed_macs(doc) <= set(phones.macs)
        assert doc["total"] == len(doc["devices"]) < n, "the test's shmcb held every phone: make SMALL_SHMCB smaller"
        # The view still moves (records are pushed out as others are written):
        # ?auto, read later, need not say the same number.
        assert int(counters(node.port, cacert=ca)["Devices"]) < n
        r = fetch(node.port, "/fleet", cacert=ca, timeout=60)
        assert r.status == 200 and 'id="capacity"' in r.body.decode()
        log = node.log_since(mark, wait=0)
        assert re.search(r"PP51[35]", log), log[-3000:]
    report(f"shmcb({SMALL_SHMCB}), {n} phones", serving=served.seconds, listed=listed,
           missing=capacity["missing"], lost=capacity["lost"], evicted=capacity["evicted"],
           accounted_after=settled, json_bytes=size, json_fetch=seconds)


@pytest.mark.parametrize("kind", ["memcache", "redis"])
def test_three_nodes_one_view(kind, pki, phones):
    sample = phones.phones[:NODE_PHONES]
    expected = {mac for mac, _ in sample}
    with fleet_nodes(kind, pki, phones, nodes=3, listed=sample) as (_, nodes):
        served = serve_all([node.port for node in nodes], phones, phones=sample)
        views, sizes = [], []
        for node in nodes:
            views.append(wait_for_every_phone(node, pki, expected))
            doc, size, seconds = json_doc(node, pki)
            sizes.append((size, round(seconds, 2)))
            assert listed_macs(doc) == expected
            assert doc["total"] == len(expected)
            assert doc["capacity"]["complete"] is True, doc["capacity"]
            auto = counters(node.port, cacert=pki["server_ca"])
            assert (auto["Nodes"], auto["Devices"]) == ("3", str(len(expected)))
    report(f"{kind}, 3 nodes, {len(expected)} phones", serving=served.seconds,
           handshakes_per_s=f"{served.rate:.0f}", view_complete_after=max(views), json_bytes_and_fetch=sizes)
