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
  notice. shmcb is given 16 MiB, memcached its harness 16 MB.
- A shmcb far too small for the fleet (SMALL_SHMCB): the phones are served
  all the same; the view says it is incomplete ("complete" false, the page's
  id="capacity" notice, PP515/PP513 in the error log) and accounts for every
  phone: devices listed + missing + lost + evicted >= N. Nothing is dropped
  silently.
- Three servers sharing one memcached or redis-server (NODE_PHONES phones
  spread round-robin over them): every node's page lists every phone.

Timings (certificate generation, serving, time until the view is complete,
the JSON's size and fetch time) are printed: run with -s to see them. Each
provider's share stays well under 3 minutes on a 2-core machine."""

import contextlib
import json
import math
import os
import re
import shutil
import time

import pytest

from harness import many_phones
from harness.apache import Apache, new_server_root
from harness.fleet import FLEET_MODULES, counters, fetch, fleet_site, socache_load_line, wait_for

N = int(os.environ.get("POLYPROV_SCALE_PHONES", many_phones.DEFAULT_PHONES))
# Phones of the three-node case (spread over the nodes), from the same set.
NODE_PHONES = min(N, int(os.environ.get("POLYPROV_SCALE_NODE_PHONES", 3000)))
BIG_SHMCB = 16 * 1024 * 1024
# Found by trying: with 5,000 phones, 1 MiB keeps about 2,000 of them.
SMALL_SHMCB = 1024 * 1024
MEMCACHED_MB = 16
# Until the view is whole after the last phone: the updaters flush about once
# a second; the rest is slack for a loaded machine.
VIEW_TIMEOUT = 60
CLIENT_THREADS = 4
# Per-request debug lines of thousands of handshakes would only slow the
# servers and the log checks down.
LOG_LEVEL = "warn polyprov:info"
# What no fleet-scale server may log, expected or not.
FORBIDDEN = re.compile(r"\[polyprov:(error|crit|alert|emerg)\]|PP9\d\d|PP549|PP512|exit signal|AH00052")

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
    `listed` (default: all) on their ACL. Yields (cache or None, [Apache])."""
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
            config = fleet_site(node.root, node.port, pki,
                                socache_load_line(kind) + f"PolyProvFleet {spec}\n")
            with open(os.path.join(node.root, "conf", "phones.acl"), "a") as f:
                f.write(acl)
            node.start(config, extra_modules=FLEET_MODULES, log_level=LOG_LEVEL)
        yield cache, servers
    finally:
        for node in servers:
            node.stop()
        if cache:
            cache.cleanup()
    for node in servers:
        log = node.read_error_log()
        if not os.environ.get("POLYPROV_KEEP"):
            shutil.rmtree(node.root, ignore_errors=True)
        assert not FORBIDDEN.search(log), "\n".join(
            line for line in log.splitlines() if FORBIDDEN.search(line))[:3000]


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
        got = listed_macs(json_doc(node, pki)[0])
        missing = expected - got
        return got >= expected, f"{len(got)} listed, {len(missing)} missing, e.g. {sorted(missing)[:5]}"
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
        assert counters(node.port, cacert=ca)["Devices"] == str(doc["total"])
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
