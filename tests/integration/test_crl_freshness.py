"""How long CRLs stay usable: the module's start-up report per virtual host
(PP401, and the PP402 warning under three days), and `polyprov check-crl`,
which prints the same for monitoring."""

import os
import re
import shutil
import subprocess

import pytest

from harness import crls
from harness.apache import Apache, new_server_root
from harness.vhosts import tls_vhost

CLI = os.environ.get("POLYPROV_CLI", "")
CHECK = "    SSLCARevocationCheck chain no_crl_for_cert_ok\n"


def check_crl(*args):
    if not CLI or not os.path.exists(CLI):
        pytest.fail(f"POLYPROV_CLI must name the built tool (got {CLI!r}); run through make check")
    p = subprocess.run([CLI, "check-crl", *args], capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout, p.stderr


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, 0o644)
    return str(path)


@pytest.fixture
def crl_files(pki, tmp_path):
    """fresh.pem (root and policy CRLs, 30 days left), soon.pem (issuing CA 1's, 1 day left),
    past.pem (expired an hour ago), a hashed directory holding a fresh CRL, and a DER file."""
    os.chmod(tmp_path, 0o755)
    a = pki["authorities"]
    out = {
        "fresh": write(tmp_path / "fresh.pem", crls.pem(crls.crl(a["root"])) + crls.pem(crls.crl(a["policy"]))),
        "soon": write(tmp_path / "soon.pem", crls.pem(crls.crl(a["issuing1"], next_update=crls.DAY))),
        "past": write(tmp_path / "past.pem", crls.pem(crls.crl(a["issuing1"], this_update=-3 * crls.DAY,
                                                               next_update=-crls.HOUR))),
        "der": write(tmp_path / "root.crl", crls.der(crls.crl(a["root"]))),
    }
    hashed = tmp_path / "hashed"
    hashed.mkdir()
    os.chmod(hashed, 0o755)
    write(hashed / "issuing2.pem", crls.pem(crls.crl(a["issuing2"], next_update=10 * crls.DAY)))
    subprocess.run(["openssl", "rehash", str(hashed)], check=True, capture_output=True)
    out["dir"] = str(hashed)
    out["hashed_name"] = next(n for n in os.listdir(hashed) if re.fullmatch(r"[0-9a-f]{8}\.r0", n))
    return out


def test_start_up_and_graceful_report_each_crl_per_virtual_host(pki, crl_files):
    apache = Apache(new_server_root())
    try:
        port = apache.port
        vhosts = (tls_vhost(port, "default.test", pki, verify="none")
                  + tls_vhost(port, "crl-stock.test", pki, extra=f"    SSLCARevocationFile {crl_files['fresh']}\n" + CHECK)
                  + tls_vhost(port, "crl-leaf.test", pki, waiver="leaf",
                              extra=f"    SSLCARevocationFile {crl_files['soon']}\n" + CHECK)
                  + tls_vhost(port, "access.test", pki, extra=f"    SSLCARevocationPath {crl_files['dir']}\n" + CHECK))
        apache.start(vhosts)
        log = apache.log_since(0)
        info = re.findall(r"\[polyprov:info\] .*PP401 virtual host (\S+) .*?: (CRL of .*)", log)
        warn = re.findall(r"\[polyprov:warn\] .*PP402 virtual host (\S+) .*?: (CRL of .*)", log)
        # Once per start, not once per configuration pass.
        assert sorted(h for h, _ in info) == ["access.test", "crl-stock.test", "crl-stock.test"], log
        assert [h for h, _ in warn] == ["crl-leaf.test"], log
        stock = [line for h, line in info if h == "crl-stock.test"]
        assert stock[0].startswith(f'CRL of "CN=Polycom Root CA" ({crl_files["fresh"]}): thisUpdate ')
        assert re.search(r", 0 entries; valid for (29 days 23 hours|30 days)$", stock[0]), stock[0]
        assert stock[1].startswith('CRL of "CN=Polycom Equipment Policy CA"')
        path = next(line for h, line in info if h == "access.test")
        assert path.startswith('CRL of "CN=Polycom Equipment Issuing CA 2" '
                               f'({crl_files["dir"]}/{crl_files["hashed_name"]})'), path
        assert re.search(r"; expires in (23 hours \d+ minutes|1 day): past its nextUpdate, mod_ssl refuses every "
                         r"client certificate this CRL covers; fetch a new one \(polyprov fetch-crl\) and reload$",
                         warn[0][1]), warn[0][1]
        assert "default.test" not in "".join(re.findall(r"PP40\d.*", log))

        mark = apache.log_mark()
        apache.graceful()
        again = apache.log_since(mark, wait=0)
        assert len(re.findall(r"PP401 ", again)) == 3 and len(re.findall(r"PP402 ", again)) == 1, again
    finally:
        apache.stop()
        shutil.rmtree(apache.root, ignore_errors=True)


def test_an_expired_crl_is_reported_as_past(pki, crl_files):
    apache = Apache(new_server_root())
    try:
        apache.start(tls_vhost(apache.port, "crl-stock.test", pki,
                               extra=f"    SSLCARevocationFile {crl_files['past']}\n" + CHECK))
        log = apache.log_since(0)
        assert re.search(r"\[polyprov:warn\] .*PP402 virtual host crl-stock.test .*; expired 1 hour( \d+ seconds?)? ago: "
                         r"past its nextUpdate", log), log
    finally:
        apache.stop()
        shutil.rmtree(apache.root, ignore_errors=True)


def test_a_main_server_revocation_path_is_reported_for_the_virtual_hosts_that_inherit_it(pki, crl_files):
    own = crl_files["dir"] + "-own"
    shutil.copytree(crl_files["dir"], own, symlinks=True)
    apache = Apache(new_server_root())
    try:
        apache.start(f"SSLCARevocationPath {crl_files['dir']}\n"
                     + tls_vhost(apache.port, "crl-stock.test", pki, extra=CHECK)
                     + tls_vhost(apache.port, "crl-leaf.test", pki, extra=f"    SSLCARevocationPath {own}/\n"
                                 + f"    SSLCARevocationFile {crl_files['fresh']}\n" + CHECK))
        log = apache.log_since(0)
        name = crl_files["hashed_name"]
        assert len(re.findall(rf"PP401 virtual host crl-stock.test .*/hashed/{name}\)", log)) == 1, log
        assert len(re.findall(rf"PP401 virtual host crl-leaf.test .*/hashed-own/{name}\)", log)) == 1, log
        assert len(re.findall(r"PP401 virtual host crl-leaf.test .*fresh\.pem", log)) == 2, log
        assert len(re.findall(r"PP40\d", log)) == 4, log
    finally:
        apache.stop()
        shutil.rmtree(apache.root, ignore_errors=True)


def test_check_crl_exit_codes(crl_files, tmp_path):
    rc, out, err = check_crl(crl_files["fresh"])
    assert rc == 0 and err == "", err
    lines = out.splitlines()
    assert len(lines) == 2 and all(line.startswith("ok        CRL of ") for line in lines), out
    assert re.search(r"nextUpdate \S+Z, 0 entries; valid for (29 days 23 hours|30 days)$", lines[0]), lines[0]

    rc, out, err = check_crl(crl_files["soon"])
    assert rc == 1, out + err
    assert re.match(r'EXPIRING  CRL of "CN=Polycom Equipment Issuing CA 1" .*; expires in '
                    r'(23 hours|1 day)', out), out
    assert "1 of 1 CRLs expire within 3 days or have expired" in err
    assert check_crl(crl_files["soon"], "--warn", "12h")[0] == 0
    rc, out, err = check_crl(crl_files["fresh"], "--warn", "31d")
    assert rc == 1 and "2 of 2 CRLs expire within 31 days" in err

    rc, out, _ = check_crl(crl_files["past"])
    assert rc == 1 and out.startswith("EXPIRED   CRL of ") and "; expired 1 hour" in out, out

    rc, out, _ = check_crl(crl_files["dir"])
    assert rc == 0 and f"({crl_files['dir']}/{crl_files['hashed_name']})" in out, out

    rc, _, err = check_crl(crl_files["der"])
    assert rc == 2 and "holds no PEM CRL (mod_ssl reads PEM; a DER CRL converts with openssl crl -inform DER)" in err
    assert check_crl(str(tmp_path / "missing.pem"))[0] == 2
    empty = tmp_path / "empty"
    empty.mkdir()
    rc, _, err = check_crl(str(empty))
    assert rc == 2 and "no CRL files" in err
    for args in ([], [crl_files["fresh"], "--warn", "soon"], [crl_files["fresh"], crl_files["soon"]]):
        assert check_crl(*args)[0] == 2
