"""scripts/demo.py (what `scripts/demo` runs once it has built the module)
against the built module, on free ports: it serves its scripted visit as it
says, names the TLS alert of a refused handshake in words, shows the visit
on its fleet page, and a second run restarts the server it started."""

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request

import pytest

from harness.apache import MODULE, free_port

SRC = os.environ.get("POLYPROV_SRCDIR", os.path.join(os.path.dirname(__file__), "..", ".."))


@pytest.fixture
def demo():
    from harness import sanitizers
    if sanitizers.PRELOAD:
        # The demo starts apache2 itself, without the sanitizer runtimes
        # preloaded; what it serves is the module the other tests exercise.
        pytest.skip("scripts/demo.py starts apache2 itself: not with the instrumented module")
    directory = tempfile.mkdtemp(prefix="polyprov-demo-")
    ports = [free_port() for _ in range(3)]
    env = dict(os.environ, POLYPROV_DEMO_PORTS=" ".join(map(str, ports)))

    def run(*args):
        p = subprocess.run(["/usr/bin/python3", os.path.join(SRC, "scripts", "demo.py"), MODULE, directory, *args],
                           capture_output=True, text=True, timeout=180, env=env)
        assert p.returncode == 0, p.stdout + p.stderr
        return p.stdout

    run.dir, run.ports = directory, ports
    yield run
    pidfile = os.path.join(directory, "run", "httpd.pid")
    if os.path.exists(pidfile):
        with open(pidfile) as f:
            pid = int(f.read())
        try:
            os.kill(pid, signal.SIGTERM)
            for _ in range(100):
                os.kill(pid, 0)
                time.sleep(0.1)
        except ProcessLookupError:
            pass
    shutil.rmtree(directory, ignore_errors=True)


def server_pid(directory):
    with open(os.path.join(directory, "run", "httpd.pid")) as f:
        return int(f.read())


def test_the_demo_shows_its_visit_and_restarts(demo):
    out = demo()
    # The scripted visit, each answer as the demo's comment says.
    answers = re.findall(r"^    \| HTTP/\S+ (\d+)", out, re.M)
    assert answers == ["200", "200", "200", "403", "403", "201"], out
    assert "x-cert-expired: 1" in out
    assert "x-decision: deny:not-in-acl" in out and "x-decision: deny:mac-mismatch" in out
    # Refused handshakes: the alert in words, not only curl's socket error.
    assert 'the TLS alert "certificate expired"' in out, out
    assert 'the TLS alert "unknown ca"' in out, out
    # The fleet view of that visit, and its page.
    assert re.search(r"^    \| Devices: 2$", out, re.M), out
    assert re.search(r"^    \| Refused: 1$", out, re.M), out
    assert re.search(r"^    \| Probes: 1$", out, re.M), out
    url = f"http://127.0.0.1:{demo.ports[2]}/fleet"
    assert f"fleet page:  {url}" in out
    with urllib.request.urlopen(url, timeout=10) as reply:
        page = reply.read().decode()
    assert "0004F2000003" in page and "carried by the waiver" in page

    # Run again while it runs: the old server is stopped, a new one serves.
    first = server_pid(demo.dir)
    again = demo()
    assert f"stopping the demo server already running (pid {first})" in again
    assert server_pid(demo.dir) != first
    with pytest.raises(ProcessLookupError):
        os.kill(first, 0)
    assert re.findall(r"^    \| HTTP/\S+ (\d+)", again, re.M) == ["200", "200", "200", "403", "403", "204"], again
