"""Where two servers' per-request instructions differ, function by function:
reads the callgrind files bench/instructions.py kept (KEEP=1) in two server
roots and prints, per function, (inclusive instructions after MANY requests
- after FEW) / (MANY - FEW) for each and the difference, largest first.
The module is built with -fvisibility=hidden, so callgrind names its
functions by address only: those are named through addr2line on MODULE.so.

usage: bench/callgrind_diff.py ROOT_A ROOT_B [MODULE.so] [--rows N] [--exclusive]
"""

import glob
import os
import re
import subprocess
import sys

FEW, MANY = 50, 550


def costs(path, inclusive):
    out = subprocess.run(["callgrind_annotate", f"--inclusive={'yes' if inclusive else 'no'}", "--threshold=100", path],
                         capture_output=True, text=True, check=True).stdout
    table = {}
    for line in out.splitlines():
        m = re.match(r"\s*([\d,]+) \([^)]*\)\s+(?:\*\s+)?(\S.*)", line)
        if m and not m.group(2).startswith("=>"):  # a call line of the tree, not a function
            name = re.sub(r"\s*\[.*\]$", "", m.group(2))
            table[name] = table.get(name, 0) + int(m.group(1).replace(",", ""))
    return table


def per_request(root, inclusive):
    def run(n):
        files = glob.glob(os.path.join(root, "callgrind", f"callgrind.{n}.*"))
        # The request thread (instructions.py writes a file per thread).
        files = [f for f in files if f.endswith("-01")] or files
        return max(files, key=os.path.getsize)  # the server process, not its short-lived helpers
    few, many = costs(run(FEW), inclusive), costs(run(MANY), inclusive)
    return {k: (v - few.get(k, 0)) / (MANY - FEW) for k, v in many.items()}


def namer(module):
    cache = {}

    def name(key):
        m = re.match(r"(.*):(0x[0-9a-f]+)$", key)
        if not module or not m or "/mod_polyprov/" not in m.group(1):
            return key
        if key not in cache:
            fn = subprocess.run(["addr2line", "-f", "-C", "-e", module, m.group(2)], capture_output=True,
                                text=True).stdout.splitlines()
            cache[key] = (fn[0] if fn else "?") + f" [{os.path.basename(m.group(1))}]"
        return cache[key]
    return name


def main(argv):
    args = [a for a in argv if not a.startswith("--")]
    rows = int(argv[argv.index("--rows") + 1]) if "--rows" in argv else 60
    if "--rows" in argv:
        args.remove(str(rows))
    inclusive = "--exclusive" not in argv
    a, b = per_request(args[0], inclusive), per_request(args[1], inclusive)
    name = namer(args[2] if len(args) > 2 else None)
    diff = sorted(((b.get(k, 0) - a.get(k, 0), a.get(k, 0), b.get(k, 0), k) for k in set(a) | set(b)),
                  key=lambda row: -abs(row[0]))
    print(f"{'B-A':>9} {'A':>9} {'B':>9}  per request ({'inclusive' if inclusive else 'exclusive'})")
    for d, x, y, k in diff[:rows]:
        print(f"{d:9.0f} {x:9.0f} {y:9.0f}  {name(k)[:120]}")


if __name__ == "__main__":
    main(sys.argv[1:])
