"""A read of the whole fleet view costs seconds and some 100 MB at 100,000
devices: a server does at most two at once and answers a third with 503 and
Retry-After rather than stacking them up. Shown with a real redis-server
held still (SIGSTOP) while two reads wait on it."""

import os
import shutil
import signal
import threading
import time

from harness.apache import Apache, free_port, new_server_root
from harness.fleet import (FLEET_MODULES, CacheServer, counters, fetch, fleet_site, plain_status_vhost, run_script,
                           socache_load_line, wait_for)


def test_at_most_two_reads_of_the_view_at_once(pki):
    cache = CacheServer("redis")
    cache.start()
    apache = Apache(new_server_root())
    status_port = free_port()
    # While redis is held still the writers may find it slow; that is said.
    apache.allow_log(r"PP51[01] ")
    apache.start(fleet_site(apache.root, apache.port, pki, socache_load_line("redis") +
                            f"PolyProvFleet {cache.provider()}\n") + plain_status_vhost(status_port),
                 extra_modules=FLEET_MODULES)

    def read(query):
        return fetch(status_port, f"/fleet?{query}", host="localhost", scheme="http", timeout=60)

    try:
        run_script(apache.port, pki)
        wait_for("the scripted fleet", lambda: (counters(status_port, host="localhost", scheme="http")
                                                .get("Devices") == "4", None))
        os.kill(cache.proc.pid, signal.SIGSTOP)
        held = []
        readers = [threading.Thread(target=lambda: held.append(read("json"))) for _ in range(2)]
        try:
            mark = apache.log_mark()
            for t in readers:
                t.start()
            time.sleep(1.5)   # both are waiting on redis by now
            third = read("auto")
            assert (third.status, third.headers.get("retry-after")) == (503, "5"), (third.status, third.headers)
            assert b"being read by other requests" in third.body
            assert not held, "a read finished while redis was held still"
        finally:
            os.kill(cache.proc.pid, signal.SIGCONT)
            for t in readers:
                t.join(timeout=60)
        assert sorted(r.status for r in held) == [200, 200], [(r.status, r.body[:200]) for r in held]
        lines = [line for line in apache.log_since(mark).splitlines() if "PP523" in line]
        assert len(lines) == 1 and "2 reads of the fleet view already under way: 503" in lines[0], lines
        # The turns were given back: reads work again, two at once too.
        again = []
        pair = [threading.Thread(target=lambda: again.append(read("auto"))) for _ in range(2)]
        for t in pair:
            t.start()
        for t in pair:
            t.join(timeout=60)
        assert [r.status for r in again] == [200, 200]
    finally:
        try:
            os.kill(cache.proc.pid, signal.SIGCONT)
        except ProcessLookupError:
            pass
        apache.stop()
        cache.cleanup()
        shutil.rmtree(apache.root, ignore_errors=True)
