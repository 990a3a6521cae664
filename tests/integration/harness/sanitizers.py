"""The module built with ASan+UBSan (./configure --enable-module-sanitizers)
inside the real apache2: apache2 itself is not instrumented, so the
sanitizer runtimes are preloaded into it (POLYPROV_SANITIZER_PRELOAD, set by
make check from the compiler that built the module). ASan's reports go to
files under each server's ServerRoot (log_path); UBSan's do not follow
log_path when the runtimes are preloaded (seen with g++ 12) and appear on
the server's stderr instead: its stdout.log, and error.log, which httpd
makes its processes' stderr once started. Both are searched. Every report
found fails the test that was running (conftest.py), or the module's last
test when it appears as a server stops.

Leak checking is off: httpd frees by destroying pools at exit, or not at
all (the parent's pconf), so LeakSanitizer would report httpd, not us."""

import glob
import os
import re

PRELOAD = os.environ.get("POLYPROV_SANITIZER_PRELOAD", "").split()
REPORT_PREFIX = "sanitizer"

MARKER = re.compile(r"ERROR: AddressSanitizer|runtime error: |SUMMARY: \w+Sanitizer|ERROR: \w+Sanitizer")

_roots = set()      # every ServerRoot started with the runtimes
_seen = set()       # report files already handed out
_read_to = {}       # log file -> how far it was scanned
found = []          # (path, text) of reports not yet turned into a failure


def report_dir(root):
    return os.path.join(root, "logs", "sanitizer")


def httpd_env(root):
    """The environment for an apache2 that loads the module from `root`,
    or None (inherit) when the module is not instrumented."""
    if not PRELOAD:
        return None
    directory = report_dir(root)
    os.makedirs(directory, exist_ok=True)
    os.chmod(directory, 0o1777)   # the children write as www-data
    _roots.add(root)
    log = os.path.join(directory, REPORT_PREFIX)
    env = dict(os.environ)
    env["LD_PRELOAD"] = " ".join(PRELOAD + [p for p in env.get("LD_PRELOAD", "").split() if p])
    env["ASAN_OPTIONS"] = f"detect_leaks=0:disable_coredump=0:log_path={log}:abort_on_error=0:print_summary=1"
    env["UBSAN_OPTIONS"] = f"print_stacktrace=1:halt_on_error=1:log_path={log}"
    return env


def note_output(origin, text):
    """Output of an apache2 run (a configtest): a report in it counts too."""
    if PRELOAD and MARKER.search(text):
        found.append((origin, text))


def collect(root=None):
    """Moves the reports under `root` (every root when None) that were not
    seen yet into `found`; returns how many were new."""
    before = len(found)
    for r in [root] if root else list(_roots):
        for path in sorted(glob.glob(os.path.join(report_dir(r), REPORT_PREFIX + ".*"))):
            if path in _seen:
                continue
            _seen.add(path)
            with open(path, errors="replace") as f:
                found.append((path, f.read()))
        for path in (os.path.join(r, "logs", "stdout.log"), os.path.join(r, "logs", "error.log")):
            try:
                with open(path, errors="replace") as f:
                    start = _read_to.get(path, 0)
                    f.seek(start if start <= os.path.getsize(path) else 0)   # rewritten since
                    text = f.read()
                    _read_to[path] = f.tell()
            except FileNotFoundError:
                continue
            if MARKER.search(text):
                found.append((path, text[-20000:]))
    return len(found) - before


def take_failures():
    """The text of every report found so far (and forgets them), or ""."""
    text = "\n".join(f"=== {path}\n{body}" for path, body in found)
    found.clear()
    return text
