"""Every directive the module's table declares is documented in the README's
directive reference, and the reference documents no directive the table lacks."""

import os
import re

SRC = os.environ.get("POLYPROV_SRCDIR", os.path.join(os.path.dirname(__file__), "..", ".."))


def declared():
    with open(os.path.join(SRC, "mod_polyprov", "mod_polyprov.c")) as f:
        return set(re.findall(r'AP_INIT_\w+\("(\w+)"', f.read()))


def documented():
    with open(os.path.join(SRC, "README.md")) as f:
        text = f.read()
    reference = text.split("## Directive reference", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^### (PolyProv\w+)", reference, re.M))


def test_reference_matches_directive_table():
    assert declared(), "found no directives in mod_polyprov.c"
    assert declared() == documented()
