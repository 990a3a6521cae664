"""Telling a server's children apart: a CustomLog of their PIDs, and one
keep-alive phone held on each child, so that a test can ask every process
of a server, not only the one that happens to answer."""

import time

from .phone import Phone

# The CustomLog line for it: PID, URL with query, status.
PID_LOG_FORMAT = '"%P %U%q %>s"'


def child_of(pid_log, marker):
    """The PID that served the request whose URL ends with `marker`."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        with open(pid_log) as f:
            for line in f:
                pid, url, _ = line.split()
                if url.endswith(marker):
                    return int(pid)
        time.sleep(0.05)
    raise AssertionError(f"no log line for {marker}")


def phones_on_every_child(server, device, server_ca, want, tag="probe", expect=None, attempts=60):
    """{pid: Phone}: keep-alive connections of `device`, one on each of
    `want` children of `server` (whose `pid_log` is its PID log). `expect`:
    the status every probe must get, when given."""
    by_child = {}
    for i in range(attempts):
        phone = Phone(server.port, device, server_ca)
        status, _, _ = phone.request("GET", f"/000000000000.cfg?{tag}={i}")
        if expect is not None:
            assert status == expect
        pid = child_of(server.pid_log, f"{tag}={i}")
        if pid in by_child:
            phone.close()
        else:
            by_child[pid] = phone
        if len(by_child) == want:
            return by_child
    raise AssertionError(f"reached only {len(by_child)} of {want} children")
