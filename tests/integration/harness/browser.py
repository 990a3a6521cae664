"""Headless Chromium (Debian's chromium), for the fleet page as a person
sees it: its DOM after the page's own script ran, or a screenshot. Used by
the tests, scripts/demo and bench/fleet_scale.py."""

import shutil
import subprocess
import tempfile

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def chromium(*args, timeout=90):
    """Runs headless Chromium with `args` (--dump-dom URL, --screenshot=FILE
    URL, ...) in a profile of its own; returns (exit code, stdout, stderr)."""
    profile = tempfile.mkdtemp(prefix="polyprov-chromium-")
    try:
        p = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                            "--disable-background-networking", "--disable-component-update", "--disable-sync",
                            "--hide-scrollbars", f"--user-data-dir={profile}", *args],
                           capture_output=True, timeout=timeout)
        return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")
    finally:
        shutil.rmtree(profile, ignore_errors=True)
