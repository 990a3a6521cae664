import os
import shutil
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from harness import pki as pki_mod  # noqa: E402
from harness.apache import MODULE, new_server_root  # noqa: E402

# Every name the tests' vhosts use; the server certificate covers them all.
MODES = ("require", "optional", "optional_no_ca")
WAIVERS = ("stock", "leaf", "chain")
SERVER_NAMES = ["default.test", "crl-stock.test", "crl-leaf.test", "other-anchor.test", "access.test", "localhost"] + [
    f"{w}-{m.replace('_', '-')}.test" for w in WAIVERS for m in MODES]


def pytest_configure(config):
    if not MODULE or not os.path.exists(MODULE):
        raise pytest.UsageError(f"POLYPROV_MODULE must name the built module (got {MODULE!r}); run through make check")


@pytest.fixture(scope="session")
def pki(tmp_path_factory):
    """One PKI for the whole run: its RSA-4096 CAs take seconds to make."""
    out = tmp_path_factory.mktemp("pki")
    os.chmod(out, 0o755)
    paths = pki_mod.generate(str(out), server_names=SERVER_NAMES)
    # The server key is read by the root parent; the rest by anyone.
    for f in os.listdir(out):
        if not f.startswith("server.key") and os.path.isfile(os.path.join(out, f)):
            os.chmod(os.path.join(out, f), 0o644)
    return paths


@pytest.fixture
def server_root():
    root = new_server_root()
    yield root
    shutil.rmtree(root, ignore_errors=True)
