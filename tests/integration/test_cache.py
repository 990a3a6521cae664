"""mod_cache beside the module: its quick handler answers from the cache
before any access check runs, so an answer stored for one phone would be
handed to the next. Where mod_cache is loaded the module marks every
answer it decides not cacheable (r->no_cache, which adds Expires); where it
is not, nothing in the server stores answers and the header is left out."""

import os
import shutil

import pytest

from harness.apache import Apache, new_server_root
from harness.clients import curl
from harness.pki import DEVICES
from harness.vhosts import tls_vhost

A, B = DEVICES["valid"], DEVICES["valid_ca2"]   # two phones with valid certificates


def docs(root, name):
    path = os.path.join(root, name)
    os.makedirs(path)
    os.chmod(path, 0o755)
    with open(os.path.join(path, f"{A}.cfg"), "w") as f:
        f.write(f"<config of {A}: SIP password/>\n")
    os.chmod(os.path.join(path, f"{A}.cfg"), 0o644)
    # Modified a day ago: fresh for hours by mod_cache's Last-Modified rule,
    # so a stored copy is served without asking the server again.
    day_ago = os.path.getmtime(os.path.join(path, f"{A}.cfg")) - 86400
    os.utime(os.path.join(path, f"{A}.cfg"), (day_ago, day_ago))
    return path


def start(pki, mpm, with_cache):
    apache = Apache(new_server_root(), mpm=mpm)
    stock, guarded = docs(apache.root, "stock"), docs(apache.root, "guarded")
    cache = "    CacheEnable socache /\n    CacheHeader on\n" if with_cache else ""
    vhosts = tls_vhost(apache.port, "stock.test", pki, extra=f"""
    DocumentRoot {stock}
    {cache}
    <Directory {stock}>
        Require all granted
    </Directory>
""") + tls_vhost(apache.port, "access.test", pki, extra=f"""
    DocumentRoot {guarded}
    {cache}
    <Directory {guarded}>
        Require all granted
        PolyProvRequireDevice on
    </Directory>
""")
    if with_cache:
        vhosts = "CacheSocache shmcb\n" + vhosts
    apache.start(vhosts, extra_modules=("cache", "cache_socache") if with_cache else ())
    return apache


@pytest.fixture(scope="module", params=["event", "prefork"])
def cached(request, pki):
    apache = start(pki, request.param, with_cache=True)
    yield apache
    apache.stop()
    if not os.environ.get("POLYPROV_KEEP"):
        shutil.rmtree(apache.root)


def get(server, pki, host, phone):
    device = pki["devices"]["valid" if phone == A else "valid_ca2"]
    return curl(host, server.port, path=f"/{A}.cfg", cert=device["cert"], key=device["key"],
                cacert=pki["server_ca"])


def test_stock_mod_cache_hands_one_phones_file_to_another(cached, pki):
    first, second = get(cached, pki, "stock.test", A), get(cached, pki, "stock.test", A)
    assert first.status == 200 and second.status == 200
    assert second.headers.get("x-cache", "").startswith("HIT"), second.headers
    other = get(cached, pki, "stock.test", B)
    assert other.status == 200 and b"SIP password" in other.body, "the hole the module closes"
    assert other.headers.get("x-cache", "").startswith("HIT"), other.headers


def test_answers_the_module_decides_are_never_stored(cached, pki):
    own = [get(cached, pki, "access.test", A) for _ in range(3)]
    other = get(cached, pki, "access.test", B)
    assert other.status == 403, (other.status, other.headers)
    assert b"SIP password" not in other.body
    for r in own:
        assert r.status == 200 and b"SIP password" in r.body
        assert not r.headers.get("x-cache", "").startswith("HIT"), r.headers
        assert "expires" in r.headers, "marked not cacheable for any cache on the way"


def test_without_mod_cache_no_expires_header(pki):
    apache = start(pki, "event", with_cache=False)
    try:
        r = get(apache, pki, "access.test", A)
        assert r.status == 200 and b"SIP password" in r.body
        assert "expires" not in r.headers, r.headers
        assert get(apache, pki, "access.test", B).status == 403
    finally:
        apache.stop()
        if not os.environ.get("POLYPROV_KEEP"):
            shutil.rmtree(apache.root)
