"""?metrics against real parts: a real apache2 with the module, the scripted
fleet of phones, Prometheus' own `promtool check metrics` on the exposition,
and a real Prometheus server (started here on loopback, stopped by PID) that
scrapes it and answers, over its HTTP API, with what the phones did."""

import json
import os
import re
import shutil
import subprocess
import time
import urllib.parse
import urllib.request

import pytest

from harness.apache import Apache, free_port, new_server_root
from harness.clients import curl
from harness.fleet import (FLEET_MODULES, ME, UPLOAD_BYTES, VVX, fetch, fleet_site, phone, plain_status_vhost,
                           run_script, socache_load_line, stop_process, wait_for)

PROMTOOL = shutil.which("promtool")
PROMETHEUS = shutil.which("prometheus")
EXAMPLES = os.path.join(os.environ.get("POLYPROV_SRCDIR", "."), "doc", "examples")

# What the scripted fleet (harness/fleet.py SCRIPT) decides, request by request.
SCRIPT_DECISIONS = {"allow": 6, "deny:mac-mismatch": 3, "deny:not-in-acl": 2, "deny:unverified": 1}


def no_fleet_vhost(port):
    return f"""
Listen 127.0.0.1:{port}
<VirtualHost 127.0.0.1:{port}>
    ServerName localhost
    PolyProvFleet none
    <Location /fleet>
        SetHandler polyprov-status
        Require ip 127.0.0.1
    </Location>
</VirtualHost>
"""


# prefork: each phone's connection goes to some process of several; the
# counters are the sum over all of them.
@pytest.fixture(scope="module", params=["event", "prefork"])
def server(request, pki):
    apache = Apache(new_server_root(), mpm=request.param)
    apache.status_port, apache.bare_port = free_port(), free_port()
    fleet_line = socache_load_line("shmcb") + f"PolyProvFleet shmcb:{apache.root}/run/fleet(2097152)\n"
    apache.start(fleet_site(apache.root, apache.port, pki, fleet_line) + plain_status_vhost(apache.status_port) +
                 no_fleet_vhost(apache.bare_port), extra_modules=FLEET_MODULES)
    yield apache
    apache.stop()
    if not os.environ.get("POLYPROV_KEEP"):
        shutil.rmtree(apache.root, ignore_errors=True)


def exposition(port, query="metrics"):
    r = fetch(port, f"/fleet?{query}", host="localhost", scheme="http")
    assert r.ok and r.status == 200, (r.status, r.error, r.body[:300])
    assert r.headers.get("content-type") == "text/plain; version=0.0.4; charset=utf-8"
    return r.body.decode()


def samples(text):
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def decisions(s):
    return {m.group(1): v for k, v in s.items() if (m := re.fullmatch(r'polyprov_decisions_total\{decision="(.*)"\}', k))}


def promtool_check(text):
    p = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)
    return p.returncode, (p.stdout + p.stderr).strip()


# scripts/install-deps installs Debian's prometheus (promtool and the
# server): without them these tests fail, rather than skip and pass.
MISSING = "Debian's prometheus package (promtool, prometheus) is missing: run scripts/install-deps"


def test_counters_and_gauges_follow_the_phones(server, pki):
    assert PROMTOOL, MISSING
    before = samples(exposition(server.status_port))
    run_script(server.port, pki)

    def caught_up():
        # Every process's updater writes its own requests about once a
        # second: the refused phones may come in after the devices.
        s = samples(exposition(server.status_port))
        return (s.get("polyprov_devices") == 4 and s.get("polyprov_probing_devices") == 1
                and s.get("polyprov_refused_devices") == 2), s
    after = wait_for("the scripted fleet in ?metrics", caught_up)
    moved = {k: decisions(after)[k] - decisions(before).get(k, 0) for k in decisions(after)}
    assert {k: v for k, v in moved.items() if v} == SCRIPT_DECISIONS, moved
    assert set(moved) == {"allow", "deny:no-cert", "deny:unverified", "deny:cn-no-mac", "deny:not-in-acl",
                          "deny:mac-mismatch", "deny:not-writable", "deny:error", "deny:not-shared"}
    delta = {k: after[k] - before.get(k, 0) for k in after}
    assert delta["polyprov_uploads_total"] == 1 and delta["polyprov_upload_bytes_total"] == UPLOAD_BYTES, delta
    assert delta["polyprov_waived_handshakes_total"] == 1, delta     # the expired phone's one connection
    assert after["polyprov_refused_devices"] == 2 and after["polyprov_fleet_cache_up"] == 1, after
    assert after['polyprov_devices_not_seen{hours="24"}'] == 0, after
    assert after["polyprov_fleet_view_complete"] == 1 and after["polyprov_fleet_nodes"] == 1, after
    assert after["polyprov_fleet_updates_dropped_total"] == 0, after
    # The same thresholds as the page's, asked for the same way.
    assert 'polyprov_devices_not_seen{hours="48"}' in samples(exposition(server.status_port, "metrics&hours=48"))
    rc, out = promtool_check(exposition(server.status_port))
    assert rc == 0 and out == "", out


def test_the_refusals_the_script_does_not_make_are_counted_too(server, pki):
    # The scripted fleet moves four of the decisions; these three requests
    # move three more, each exactly once (a counter skipped for one of them
    # would pass the test above).
    before = decisions(samples(exposition(server.status_port)))
    me, two_macs = pki["devices"]["valid"], pki["devices"]["cn_two_macs"]
    asked = [
        (curl("access.test", server.port, path=f"/{ME}.cfg", cacert=pki["server_ca"]), "deny:no-cert"),
        (curl("access.test", server.port, path="/000000000000.cfg", cert=two_macs["cert"], key=two_macs["key"],
              cacert=pki["server_ca"]), "deny:cn-no-mac"),
        (curl("access.test", server.port, path=f"/{ME}.cfg", cert=me["cert"], key=me["key"], cacert=pki["server_ca"],
              method="PUT", data=b"x"), "deny:not-writable"),
    ]
    for r, decision in asked:
        assert r.ok and r.status in (403, 405) and r.headers.get("x-decision") == decision, \
            (decision, r.status, r.headers.get("x-decision"), r.error)
    want = {"deny:no-cert": 1, "deny:cn-no-mac": 1, "deny:not-writable": 1}

    def counted():
        now = decisions(samples(exposition(server.status_port)))
        moved = {k: v - before.get(k, 0) for k, v in now.items() if v - before.get(k, 0)}
        return moved == want, moved
    wait_for("the three refusals in ?metrics", counted)


def test_a_host_without_a_fleet_view_still_has_the_counters(server):
    assert PROMTOOL, MISSING
    text = exposition(server.bare_port)
    s = samples(text)
    assert "polyprov_uploads_total" in s and 'polyprov_decisions_total{decision="allow"}' in s
    assert not any(k.startswith(("polyprov_devices", "polyprov_fleet_cache_up")) for k in s), s
    assert promtool_check(text) == (0, "")


def test_promtool_finds_what_is_wrong(server):
    """The check above can fail: promtool complains of a counter without
    _total and of a family without HELP."""
    assert PROMTOOL, MISSING
    rc, out = promtool_check("# TYPE polyprov_things counter\npolyprov_things 1\n")
    assert out and "polyprov_things" in out, (rc, out)


def test_counters_survive_a_graceful_restart_and_start_again_on_a_full_one(pki):
    apache = Apache(new_server_root())
    status_port = free_port()
    fleet_line = socache_load_line("shmcb") + f"PolyProvFleet shmcb:{apache.root}/run/fleet(2097152)\n"
    apache.start(fleet_site(apache.root, apache.port, pki, fleet_line) + plain_status_vhost(status_port),
                 extra_modules=FLEET_MODULES)
    try:
        run_script(apache.port, pki)
        first = samples(exposition(status_port))
        assert decisions(first)["allow"] == 6 and first["polyprov_uploads_total"] == 1, first
        apache.graceful()
        kept = samples(exposition(status_port))
        assert decisions(kept) == decisions(first), (kept, first)
        assert kept["polyprov_counters_reset_timestamp_seconds"] == first["polyprov_counters_reset_timestamp_seconds"]
        assert kept["polyprov_upload_bytes_total"] == UPLOAD_BYTES
        time.sleep(1.1)   # so that the reset time can differ
        apache.restart()
        fresh = samples(exposition(status_port))
        assert set(decisions(fresh).values()) == {0}, fresh
        assert fresh["polyprov_uploads_total"] == 0, fresh
        assert fresh["polyprov_counters_reset_timestamp_seconds"] > first["polyprov_counters_reset_timestamp_seconds"]
    finally:
        apache.stop()
        shutil.rmtree(apache.root, ignore_errors=True)


class PrometheusServer:
    """A real Prometheus on loopback, scraping `target`'s /fleet?metrics every second."""

    def __init__(self, workdir, target):
        self.port = free_port()
        self.workdir = workdir
        config = os.path.join(workdir, "prometheus.yml")
        with open(config, "w") as f:
            f.write(scrape_config(target, interval="1s"))
        shutil.copy(os.path.join(EXAMPLES, "polyprov-alerts.yml"), workdir)   # as the config names it
        self.log = open(os.path.join(workdir, "prometheus.log"), "w")
        self.proc = subprocess.Popen(
            [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={workdir}/data",
             f"--web.listen-address=127.0.0.1:{self.port}"],
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)

    def api(self, path, **params):
        url = f"http://127.0.0.1:{self.port}/api/v1/{path}?" + urllib.parse.urlencode(params)
        with urllib.request.urlopen(url, timeout=5) as r:
            doc = json.load(r)
        assert doc["status"] == "success", doc
        return doc["data"]

    def query(self, expr):
        return self.api("query", query=expr)["result"]

    def stop(self):
        stop_process(self.proc, 20)
        self.log.close()


def scrape_config(target, interval="60s"):
    """The scrape job of doc/examples/prometheus.yml, for `target` (host:port)."""
    with open(os.path.join(EXAMPLES, "prometheus.yml")) as f:
        text = f.read()
    for old, new in (("prov.example.com:8445", target), ("scrape_interval: 60s", f"scrape_interval: {interval}\n"
                     f"  evaluation_interval: {interval}"), ("scrape_timeout: 30s", f"scrape_timeout: {interval}")):
        assert old in text, old
        text = text.replace(old, new)
    return text


def test_a_real_prometheus_scrapes_the_counters_the_phones_moved(server, pki, tmp_path):
    if server.mpm != "event":
        # The exposition is the same under both; prefork's sum over its
        # processes is the other tests' (they run under both MPMs).
        pytest.skip("one MPM is enough for Prometheus' part")
    assert PROMETHEUS, MISSING
    prom = PrometheusServer(str(tmp_path), f"127.0.0.1:{server.status_port}")
    try:
        r = phone(server.port, pki, "valid", f"/logs/{ME}-scraped.log", VVX, method="PUT", data="x" * 100)
        assert (r.status, r.headers.get("x-decision")) == (201, "allow"), r.headers
        now = samples(exposition(server.status_port))
        uploads, allowed = now["polyprov_uploads_total"], now['polyprov_decisions_total{decision="allow"}']
        assert uploads >= 1 and allowed >= 1

        def scraped():
            try:
                got = [prom.query(f'{name}{{job="polyprov"{extra}}}') for name, extra in
                       (("polyprov_uploads_total", ""), ("polyprov_decisions_total", ',decision="allow"'), ("up", ""))]
            except OSError as e:
                return False, repr(e)
            values = [float(g[0]["value"][1]) if g else None for g in got]
            return values == [uploads, allowed, 1.0], values
        wait_for("Prometheus to scrape what the phone moved", scraped, timeout=60, interval=1)

        # The example's alert rules, loaded and evaluated against these series.
        def evaluated():
            rules = [r for g in prom.api("rules")["groups"] for r in g["rules"]]
            return len(rules) == 4 and all(r.get("lastEvaluation", "").startswith("2") and
                                           not r["lastEvaluation"].startswith("0001") for r in rules), rules
        rules = wait_for("the alert rules evaluated", evaluated, timeout=30, interval=1)
        assert all(r["health"] == "ok" and r["state"] == "inactive" for r in rules), rules
    finally:
        prom.stop()
        with open(os.path.join(str(tmp_path), "prometheus.log")) as f:
            log = f.read()
        assert "level=error" not in log, log[-3000:]


def test_the_alert_rules_in_doc_are_valid():
    assert PROMTOOL, MISSING
    rules = os.path.join(EXAMPLES, "polyprov-alerts.yml")
    p = subprocess.run([PROMTOOL, "check", "rules", rules], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    assert re.search(r"SUCCESS: [3-9] rules found", p.stdout), p.stdout
