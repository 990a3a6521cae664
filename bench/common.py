"""What the benchmarks share: the harness on the path, server CPU time, and
the printed table of medians and ratios."""

import importlib
import os
import statistics
import sys

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(TOP, "tests", "integration"))


def harness(name):
    """A module of the integration tests' harness (tests/integration/harness)."""
    return importlib.import_module("harness." + name)


def use_module(path):
    os.environ["POLYPROV_MODULE"] = os.path.abspath(path)


def group_processes(pgid):
    """(pid, /proc/PID/stat fields after the name) of every process in the
    process group `pgid` (a server started in its own group)."""
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # fields after the name: state ppid pgrp ...
            yield int(pid), fields


def server_cpu_seconds(pgid):
    """utime+stime of every process of the server (one process group), and
    of the children its parent has already reaped (cutime+cstime), so a
    child that exits during a run still counts."""
    total = 0
    for pid, fields in group_processes(pgid):
        total += int(fields[11]) + int(fields[12])
        if pid == pgid:
            total += int(fields[13]) + int(fields[14])
    return total / os.sysconf("SC_CLK_TCK")


def print_table(title, unit, results, base):
    """results: case -> list of (rate, server CPU us per operation)."""
    base_rate = statistics.median(r[0] for r in results[base])
    base_cpu = statistics.median(r[1] for r in results[base])
    print(title)
    print(f"{'case':10} {unit:>10} {'vs ' + base:>10} {'server CPU us/op':>17} {'vs ' + base:>10}   rounds ({unit})")
    for name, values in results.items():
        rate = statistics.median(v[0] for v in values)
        cpu = statistics.median(v[1] for v in values)
        print(f"{name:10} {rate:10.1f} {rate / base_rate:10.3f} {cpu:17.1f} {cpu / base_cpu:10.3f}   "
              + ", ".join(f"{v[0]:.0f}" for v in values))


def filesystem_of(path):
    """The type and device of the file system holding `path` (/proc/mounts)."""
    path = os.path.realpath(path)
    best = ("", "?", "?")
    with open("/proc/mounts") as f:
        for line in f:
            device, mount, fstype = line.split()[:3]
            if (path == mount or path.startswith(mount.rstrip("/") + "/")) and len(mount) >= len(best[0]):
                best = (mount, fstype, device)
    return f"{best[1]} on {best[2]} (mounted at {best[0]})"
