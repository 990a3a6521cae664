"""Two apache2 servers sharing one fleet view through a real memcached and
a real redis-server, started by the test on loopback ports and stopped by
PID: a phone seen on one server shows on the other's page. With the cache
server stopped mid-test, both keep serving phones (no 5xx, no request
slower than STALL_BOUND), each says so once in its error log, the status
page answers 503 rather than an empty fleet, and when the cache server
comes back (empty) the view fills again. A cache server that hangs
(SIGSTOP) costs phones nothing either, and the page does not hang with it."""

import json
import os
import re
import shutil
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from harness.apache import Apache, new_server_root
from harness.fleet import (EXPIRED, FLEET_MODULES, ME, SOUNDPOINT, VVX, CacheServer, by_mac, counters, fetch,
                           fleet_json, fleet_site, phone, socache_load_line, wait_for)

# What a phone may wait for a file while the cache server is gone: the
# fleet view must add nothing, so this is an ordinary request's time with
# room for a busy test machine.
STALL_BOUND = 2.0


@pytest.fixture(params=["memcache", "redis"])
def shared(request, pki):
    cache = CacheServer(request.param)
    # One event and one prefork server: every process of both writes.
    nodes = [Apache(new_server_root(), mpm="event"), Apache(new_server_root(), mpm="prefork")]
    try:
        cache.start()
        for node in nodes:
            fleet_line = socache_load_line(request.param) + f"PolyProvFleet {cache.provider()}\n"
            node.start(fleet_site(node.root, node.port, pki, fleet_line), extra_modules=FLEET_MODULES)
        yield cache, nodes
    finally:
        for node in nodes:
            node.stop()
        cache.cleanup()
    for node in nodes:
        log = node.read_error_log()
        if not os.environ.get("POLYPROV_KEEP"):
            shutil.rmtree(node.root, ignore_errors=True)
        # The providers log their own failed calls (AH00790/AH00791,
        # AH03478/AH03479) while the server is down; ours are warnings.
        assert not re.search(r"\[polyprov:(error|crit|alert|emerg)\]|PP9\d\d|PP549|exit signal", log), log[-3000:]


def busy_all_processes(pki, node, device_name, path, ua):
    """Concurrent phones, so that every process of the node (prefork has
    several) serves some and its updater writes: each then holds a pooled
    connection to the cache server."""
    with ThreadPoolExecutor(max_workers=6) as pool:
        for _ in range(3):
            results = list(pool.map(lambda _: phone(node.port, pki, device_name, path, ua), range(6)))
            assert all(r.status == 200 for r in results), [(r.status, r.error) for r in results]
    time.sleep(2.5)  # more than a flush interval: every updater has written


def device(node, pki, mac):
    doc = fleet_json(node.port, cacert=pki["server_ca"])
    return mac in by_mac(doc["devices"]), doc


@pytest.mark.allow_log(r"AH0079[01]: scache_mc", r"AH0347[89]: scache_rd")
def test_two_servers_one_view_and_a_cache_server_that_stops(shared, pki):
    cache, (node1, node2) = shared
    ca = pki["server_ca"]

    # A phone seen on node 1 shows on node 2's page, and the other way round.
    assert phone(node1.port, pki, "valid", f"/{ME}.cfg", VVX).status == 200
    doc = wait_for("node 1's phone on node 2's page", lambda: device(node2, pki, ME))
    assert doc["node"].endswith(f":{node2.port}")
    assert by_mac(doc["devices"])[ME]["last_request"]["path"] == f"/{ME}.cfg"
    assert phone(node2.port, pki, "expired", f"/{EXPIRED}.cfg", SOUNDPOINT).status == 200
    doc = wait_for("node 2's phone on node 1's page", lambda: device(node1, pki, EXPIRED))
    assert by_mac(doc["devices"])[EXPIRED]["waived"] is True
    # The same phone on both: one device, first seen on node 1, last on node 2.
    assert phone(node2.port, pki, "valid", "/000000000000.cfg", VVX).status == 200

    def merged():
        d = by_mac(fleet_json(node1.port, cacert=ca)["devices"]).get(ME, {})
        return d.get("last_request", {}).get("path") == "/000000000000.cfg", d
    wait_for("the phone's newest request, from node 2, on node 1", merged)
    for node in (node1, node2):
        assert counters(node.port, cacert=ca)["Nodes"] == "2"
        assert len(fleet_json(node.port, cacert=ca)["devices"]) == 2

    # The cache server stops: phones are served as before, promptly. Every
    # process has a connection to it first, which the stop leaves stale.
    busy_all_processes(pki, node1, "valid", f"/{ME}.cfg", VVX)
    busy_all_processes(pki, node2, "expired", f"/{EXPIRED}.cfg", SOUNDPOINT)
    marks = [node.log_mark() for node in (node1, node2)]
    cache.stop()
    # Long enough for retries (one process a server, every 10 s): phones all
    # along, each served promptly.
    outage_end = time.monotonic() + 14
    while time.monotonic() < outage_end:
        for node, device_name, path, ua in ((node1, "valid", f"/{ME}.cfg", VVX),
                                            (node2, "expired", f"/{EXPIRED}.cfg", SOUNDPOINT)):
            start = time.monotonic()
            r = phone(node.port, pki, device_name, path, ua)
            elapsed = time.monotonic() - start
            assert r.ok and r.status == 200, (r.status, r.error)
            assert elapsed < STALL_BOUND, f"a phone waited {elapsed:.2f} s with the cache server down"
        time.sleep(0.3)
    # Each server says so once, whatever number of its processes noticed,
    # and tries again rarely: the provider logs each failed call itself.
    for node, mark in zip((node1, node2), marks):
        log = node.log_since(mark, wait=0)
        assert log.count("PP510") == 1, log[-3000:]
        provider_lines = len(re.findall(r"AH0079[01]|AH0347[89]", log))
        assert 1 <= provider_lines <= 4, log[-3000:]
        r = fetch(node.port, "/fleet?json", cacert=ca)
        assert r.status == 503 and b"does not answer" in r.body
        assert fetch(node.port, "/fleet", cacert=ca).status == 503

    # The cache server comes back, empty: the view fills again. Each node is
    # asked until its own phone is on its page: a request in a node's retry
    # interval is dropped by design, so seeing the other node's phone there
    # would not mean this one's was written.
    cache.start()
    for node, device_name, mac, path, ua in ((node1, "valid", ME, f"/{ME}.cfg", VVX),
                                             (node2, "expired", EXPIRED, f"/{EXPIRED}.cfg", SOUNDPOINT)):
        def seen_again(node=node, device_name=device_name, mac=mac, path=path, ua=ua):
            assert phone(node.port, pki, device_name, path, ua).status == 200
            r = fetch(node.port, "/fleet?json", cacert=ca)
            return r.status == 200 and mac in by_mac(json.loads(r.body)["devices"]), r.status
        wait_for("the view after the cache server is back", seen_again, timeout=40, interval=1)
    wait_for("both phones again", lambda: (len(fleet_json(node1.port, cacert=ca)["devices"]) == 2, None), timeout=20)
    # Back empty is not a fleet that went quiet: each node's writers
    # remember what its summary counted (node 1: its phone; node 2: both),
    # and the first to write again counts the loss for every node's page.
    for node in (node1, node2):
        capacity = fleet_json(node.port, cacert=ca)["capacity"]
        assert capacity["complete"] is False and capacity["evicted"] == 3, capacity
    # Processes that held a connection from before the outage find it
    # stale on their first write: that is not the cache going down again.
    busy_all_processes(pki, node1, "valid", f"/{ME}.cfg", VVX)
    busy_all_processes(pki, node2, "expired", f"/{EXPIRED}.cfg", SOUNDPOINT)
    for node, mark in zip((node1, node2), marks):
        log = node.log_since(mark, wait=0)
        assert log.count("PP510") == 1, log[-2000:]
        assert log.count("PP511") == 1, log[-2000:]
        assert "PP515" in log and "it was emptied" in log, log[-2000:]
        dropped = int(counters(node.port, cacert=ca)["UpdatesDropped"])
        assert dropped >= 20, "the requests made while the cache was down are counted as not recorded"
    # Each node's page says what the other could not record too.
    local = [fleet_json(node.port, cacert=ca)["capacity"]["updates_dropped"] for node in (node1, node2)]
    for node in (node1, node2):
        capacity = fleet_json(node.port, cacert=ca)["capacity"]
        assert capacity["updates_dropped_fleet"] == sum(local), (capacity, local)
        assert counters(node.port, cacert=ca)["UpdatesDroppedFleet"] == str(sum(local))


@pytest.fixture(params=["memcache", "redis"])
def one_node(request, pki):
    cache = CacheServer(request.param)
    node = Apache(new_server_root(), mpm="event")
    try:
        cache.start()
        node.start(fleet_site(node.root, node.port, pki, socache_load_line(request.param) +
                              f"PolyProvFleet {cache.provider()}\n"), extra_modules=FLEET_MODULES)
        yield cache, node
    finally:
        if cache.proc is not None:
            os.kill(cache.proc.pid, signal.SIGCONT)
        node.stop()
        cache.cleanup()
        shutil.rmtree(node.root, ignore_errors=True)


@pytest.mark.allow_log(r"AH0079[01]: scache_mc", r"AH0347[89]: scache_rd")
def test_a_cache_server_that_hangs(one_node, pki):
    """A cache server that stops answering without closing its connections
    (SIGSTOP): memcache calls have no timeout of their own, yet phones are
    served promptly, the page answers 503 at once instead of joining the
    wait, and the server still stops cleanly."""
    cache, node = one_node
    ca = pki["server_ca"]
    assert phone(node.port, pki, "valid", f"/{ME}.cfg", VVX).status == 200
    wait_for("the phone", lambda: device(node, pki, ME))
    mark = node.log_mark()
    os.kill(cache.proc.pid, signal.SIGSTOP)
    for _ in range(6):
        start = time.monotonic()
        assert phone(node.port, pki, "valid", f"/{ME}.cfg", VVX).status == 200
        assert time.monotonic() - start < STALL_BOUND
        time.sleep(0.3)
    time.sleep(6)  # the writer's call has now waited past FleetSharedState::kStalledAfter
    for _ in range(3):
        start = time.monotonic()
        r = fetch(node.port, "/fleet?json", cacert=ca, timeout=15)
        assert r.ok and r.status == 503, (r.status, r.error)
        assert time.monotonic() - start < 7, "the page joined the wait for a hung cache"
    assert node.log_since(mark, wait=0).count("PP510") == 1
    # It answers again: the view comes back.
    os.kill(cache.proc.pid, signal.SIGCONT)

    def back():
        assert phone(node.port, pki, "valid", f"/{ME}.cfg", VVX).status == 200
        return fetch(node.port, "/fleet?json", cacert=ca).status == 200, None
    wait_for("the page after the cache server resumed", back, timeout=40, interval=1)
    assert node.log_since(mark, wait=0).count("PP511") == 1
    start = time.monotonic()
    node.stop()
    assert time.monotonic() - start < 10
    assert "AH00045" not in node.read_error_log(), "a child had to be killed"
