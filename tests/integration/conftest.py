import os
import shutil
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from harness import apache as apache_mod  # noqa: E402
from harness import pki as pki_mod  # noqa: E402
from harness import sanitizers  # noqa: E402
from harness.apache import MODULE, Apache, new_server_root  # noqa: E402

# Every name the tests' vhosts use; the server certificate covers them all.
MODES = ("require", "optional", "optional_no_ca")
WAIVERS = ("stock", "leaf", "chain")
SERVER_NAMES = ["default.test", "crl-stock.test", "crl-leaf.test", "other-anchor.test", "access.test", "localhost",
                "leaf-polycom.test", "leaf-polycom-b.test", "chain-polycom.test", "leaf-other.test", "leaf-both.test",
                "stock.test", "reneg-leaf.test", "reneg-stock.test", "hist-none.test", "hist-p.test",
                "sections.test"] + [
    f"{w}-{m.replace('_', '-')}.test" for w in WAIVERS for m in MODES]


# Started first when the tests run in several workers, so that the longest
# ones (up to a minute each) do not end the run alone on one worker.
LONGEST_FIRST = ("test_fleet_scale.py", "test_fleet_shared.py", "test_acl_consistency.py")


def pytest_collection_modifyitems(config, items):
    if getattr(config.option, "numprocesses", None):
        def rank(item):
            name = os.path.basename(str(item.fspath))
            return LONGEST_FIRST.index(name) if name in LONGEST_FIRST else len(LONGEST_FIRST)
        items.sort(key=rank)   # stable: a module's own order is kept


def pytest_configure(config):
    if not MODULE or not os.path.exists(MODULE):
        raise pytest.UsageError(f"POLYPROV_MODULE must name the built module (got {MODULE!r}); run through make check")
    config.addinivalue_line("markers", "allow_log(pattern, ...): error-log lines this test expects (regexes)")


@pytest.fixture(autouse=True)
def error_log_is_clean(request):
    """After every test, every running server's error log since the last
    check: an error or worse, an internal error (PP9xx) or a child killed by
    a signal (AH00051/AH00052) fails the test unless it declared the line."""
    allows = [p for m in request.node.iter_markers("allow_log") for p in m.args]
    apache_mod.current_test_allows[:] = allows
    yield
    unexpected = []
    cores = ""
    for server in list(Apache.running):
        lines = server.unexpected_log_lines()
        if lines:
            unexpected += lines
            cores += server.core_backtraces()
    apache_mod.current_test_allows[:] = []
    assert not unexpected, "unexpected lines in the error log:\n" + "\n".join(unexpected) + cores


def _fail_on_sanitizer_reports():
    sanitizers.collect()
    reports = sanitizers.take_failures()
    if reports:
        pytest.fail("sanitizer reports from apache2 with the instrumented module:\n" + reports, pytrace=False)


@pytest.fixture(autouse=True)
def sanitizer_check_per_test():
    """With the instrumented module: a report written while a test ran fails it."""
    yield
    _fail_on_sanitizer_reports()


@pytest.fixture(scope="module", autouse=True)
def sanitizer_check_per_module():
    """Set up before a module's servers, so it runs after they have stopped:
    reports written on the way down fail the module's last test."""
    yield
    _fail_on_sanitizer_reports()


def pytest_sessionfinish(session, exitstatus):
    if sanitizers.collect() or sanitizers.found:
        print("\nsanitizer reports:\n" + sanitizers.take_failures())
        session.exitstatus = 1


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
