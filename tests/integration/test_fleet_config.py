"""PolyProvFleet and PolyProvFleetExpire mistakes: apache2 -t fails naming
the file, the line (or the directive) and why; a cache that cannot work
stops the start with a message rather than a fleet view that silently
records nothing."""

import subprocess

import pytest

from harness.apache import HTTPD, Apache
from harness.fleet import FLEET_MODULES, socache_load_line
from harness.vhosts import tls_vhost


def configtest(server_root, pki, server_lines, vhost_lines="", **kw):
    apache = Apache(server_root)
    rc, out = apache.configtest(server_lines + tls_vhost(apache.port, "access.test", pki, extra=vhost_lines),
                                extra_modules=FLEET_MODULES, **kw)
    return apache, rc, out


def line_of(conf, text):
    with open(conf) as f:
        for n, line in enumerate(f, 1):
            if text in line:
                return n
    raise AssertionError(f"{text!r} not in {conf}")


@pytest.mark.parametrize("directive,says", [
    ("PolyProvFleet nosuch:thing", "PolyProvFleet: 'nosuch' is no socache provider: load its module"),
    ("PolyProvFleet memcache", "PolyProvFleet memcache: List of server names required"),
    ("PolyProvFleetExpire 0d", "PolyProvFleetExpire: '0d' is not a duration from 1 minute to 3650 days"),
    ("PolyProvFleetExpire 1.5d", "is not a duration"),
    ("PolyProvFleetExpire 30s", "is not a duration from 1 minute"),
    ("PolyProvFleetExpire 3651d", "is not a duration"),
])
def test_bad_values_name_the_line(pki, server_root, directive, says):
    apache, rc, out = configtest(server_root, pki, socache_load_line("memcache") + directive + "\n")
    assert rc != 0
    assert says in out, out
    assert f"line {line_of(apache.conf, directive)} of {apache.conf}" in out, out


def test_not_in_a_directory(pki, server_root):
    apache, rc, out = configtest(server_root, pki, "",
                                 f"    <Directory {server_root}/htdocs>\n        PolyProvFleet shmcb\n    </Directory>\n")
    assert rc != 0 and "PolyProvFleet not allowed in <Directory> context" in out, out


def test_given_twice(pki, server_root):
    _, rc, out = configtest(server_root, pki, "PolyProvFleet shmcb\nPolyProvFleet none\n")
    assert rc != 0 and "PolyProvFleet: given twice for this server" in out, out


def test_memcache_keeps_thirty_days_at_most(pki, server_root):
    apache, rc, out = configtest(server_root, pki,
                                 socache_load_line("memcache") + "PolyProvFleet memcache:127.0.0.1:11211\n"
                                 "PolyProvFleetExpire 60d\n")
    assert rc != 0
    assert "PP501" in out and "longer than memcached keeps an entry (30 days)" in out, out
    assert f"{apache.conf}:{line_of(apache.conf, 'PolyProvFleetExpire')}" in out, out
    _, rc, out = configtest(server_root, pki, socache_load_line("memcache") + "PolyProvFleet memcache:127.0.0.1:11211\n"
                            "PolyProvFleetExpire 30d\n")
    assert rc == 0, out


def test_one_cache_one_expiry(pki, server_root):
    """Two virtual hosts sharing a cache with different expiry times: which would win?"""
    apache = Apache(server_root)
    shared = f"PolyProvFleet shmcb:{server_root}/run/fleet(1048576)\n"
    config = (tls_vhost(apache.port, "access.test", pki, extra="    " + shared + "    PolyProvFleetExpire 7d\n") +
              tls_vhost(apache.port, "localhost", pki, extra="    " + shared + "    PolyProvFleetExpire 30d\n"))
    rc, out = apache.configtest(config, extra_modules=FLEET_MODULES)
    assert rc != 0
    assert "PP502" in out and "must agree on PolyProvFleetExpire" in out, out


def test_a_shmcb_too_small_stops_the_start(pki, server_root):
    apache = Apache(server_root)
    apache.write_config(f"PolyProvFleet shmcb:{server_root}/run/tiny(32768)\n" + tls_vhost(apache.port, "access.test", pki),
                        extra_modules=FLEET_MODULES)
    # The listening socket opens before the caches are set up: run it and
    # wait for it to give up, rather than for the port.
    p = subprocess.run([HTTPD, "-f", apache.conf, "-DFOREGROUND"], capture_output=True, text=True, timeout=60,
                       env=apache.env)
    assert p.returncode != 0
    log = apache.read_error_log() + p.stdout + p.stderr
    assert "PP504" in log and "too small for the fleet's entries" in log, log[-2000:]
    assert f"({apache.conf}:{line_of(apache.conf, 'PolyProvFleet')})" in log


@pytest.mark.allow_log(r"PP520 SetHandler polyprov-status for /fleet, but PolyProvFleet is not set")
def test_none_turns_it_off_for_one_vhost(pki, server_root):
    apache = Apache(server_root)
    config = (f"PolyProvFleet shmcb:{server_root}/run/fleet(1048576)\n" +
              tls_vhost(apache.port, "access.test", pki, verify="optional", extra="    PolyProvFleet none\n"
                        "    <Location /fleet>\n        SetHandler polyprov-status\n    </Location>\n"))
    try:
        apache.start(config, extra_modules=FLEET_MODULES)
        from harness.clients import curl
        r = curl("access.test", apache.port, path="/fleet?json", cacert=pki["server_ca"])
        assert r.status == 503 and b"PolyProvFleet is not set for this virtual host" in r.body
    finally:
        apache.stop()
    assert "PP520" in apache.read_error_log()
