"""Expiry: `cert check` exits 1 within 14 days of expiry (one clear line),
warns from 30 days; `cert list` marks pairs expiring within 30 days, within
14 days, and expired. Lifetimes are set with `openssl req -x509 -days N`."""
import os
import re
import shutil

import pytest

from cert_set_util import self_signed
from pki_material import get_material, openssl


@pytest.fixture(scope="module")
def mat(tmp_path_factory):
    return get_material(tmp_path_factory)


DATE = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC"


@pytest.mark.parametrize("days,rc,warning", [
    (365, 0, None),
    (31, 0, None),
    (30, 0, "30 days left"),
    (15, 0, "15 days left"),
])
def test_check_warns_from_30_days(cli, tmp_path, days, rc, warning):
    self_signed(str(tmp_path / "certs"), "p", ["p.example.test"], days=days)
    r = cli("cert", "check", "p", "--dir", "certs")
    assert r.rc == rc, r
    if warning is None:
        assert r.err == ""
        assert "ok       valid until " in r.out and f"({days} days left)" in r.out
        assert r.out.endswith("p: ok\n")
    else:
        assert re.fullmatch(rf"sealpost: warning: certs/p\.crt: certificate expires "
                            rf"on {DATE} \({warning}\)\n", r.err), r.err
        assert r.out.endswith("p: ok, 1 warning\n")


@pytest.mark.parametrize("days", [14, 5, 1])
def test_check_fails_within_14_days(cli, tmp_path, days):
    self_signed(str(tmp_path / "certs"), "p", ["p.example.test"], days=days)
    r = cli("cert", "check", "p", "--dir", "certs")
    assert r.rc == 1, r
    left = f"{days} day{'s' if days > 1 else ''} left"
    assert re.fullmatch(rf"sealpost: certs/p\.crt: certificate expires on {DATE} "
                        rf"\({left}\); renew it \(cert check fails within 14 days "
                        rf"of expiry\)\n", r.err), r.err
    assert r.out.endswith("p: 1 error, 0 warnings\n")


def test_intermediate_expiring_fails_the_check(cli, mat, tmp_path):
    """The chain counts: a leaf good for 90 days under an intermediate that
    expires in 10."""
    d = str(tmp_path)
    with open(tmp_path / "ext.cnf", "w") as f:
        f.write("[ca]\nbasicConstraints = critical, CA:TRUE\n"
                "keyUsage = critical, keyCertSign\n"
                "[leaf]\nbasicConstraints = CA:FALSE\n"
                "keyUsage = critical, digitalSignature\n"
                "extendedKeyUsage = serverAuth\n"
                "subjectAltName = DNS:p.example.test\n")
    for name, cn in (("short", "/CN=Short Intermediate"), ("p", "/CN=p.example.test")):
        openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-out", f"{name}.key", cwd=d)
        openssl("req", "-new", "-key", f"{name}.key", "-subj", cn,
                "-out", f"{name}.csr", cwd=d)
    openssl("x509", "-req", "-in", "short.csr", "-CA", os.path.join(mat, "root.crt"),
            "-CAkey", os.path.join(mat, "root.key"), "-set_serial", "11",
            "-days", "10", "-extfile", "ext.cnf", "-extensions", "ca",
            "-out", "short.crt", cwd=d)
    openssl("x509", "-req", "-in", "p.csr", "-CA", "short.crt", "-CAkey", "short.key",
            "-set_serial", "12", "-days", "90", "-extfile", "ext.cnf",
            "-extensions", "leaf", "-out", "p.crt", cwd=d)
    os.makedirs(tmp_path / "certs")
    with open(tmp_path / "certs/p.crt", "wb") as f:
        f.write(open(tmp_path / "p.crt", "rb").read())
        f.write(open(tmp_path / "short.crt", "rb").read())
    shutil.copy(tmp_path / "p.key", tmp_path / "certs/p.key")
    r = cli("cert", "check", "p", "--dir", "certs")
    assert r.rc == 1, r
    assert re.search(rf"^sealpost: certs/p\.crt: intermediate 'CN=Short "
                     rf"Intermediate' expires on {DATE} \(10 days left\); renew it "
                     rf"\(cert check fails within 14 days of expiry\)$", r.err, re.M), r.err
    assert "ok       valid until " in r.out and "(90 days left)" in r.out
    r = cli("cert", "list", "--dir", "certs")
    assert re.search(r"^p .* +90  expires within 14 days$", r.out, re.M), r.out


def test_list_marks(cli, mat, tmp_path):
    certs = str(tmp_path / "certs")
    self_signed(certs, "fine", ["fine.example.test"], days=200)
    self_signed(certs, "edge", ["edge.example.test"], days=31)
    self_signed(certs, "month", ["month.example.test"], days=30)
    self_signed(certs, "weeks", ["weeks.example.test"], days=15)
    self_signed(certs, "fortnight", ["fortnight.example.test"], days=14)
    self_signed(certs, "days", ["days.example.test"], days=3)
    shutil.copy(os.path.join(mat, "expired.crt"), tmp_path / "certs/old.crt")
    shutil.copy(os.path.join(mat, "expired.key"), tmp_path / "certs/old.key")
    r = cli("cert", "list", "--dir", "certs")
    assert r.rc == 0, r
    status = {l.split()[0]: re.split(r" {2,}", l)[-1] for l in r.out.splitlines()[1:]}
    assert status == {
        "fine": "ok",
        "edge": "ok",
        "month": "expires within 30 days",
        "weeks": "expires within 30 days",
        "fortnight": "expires within 14 days",
        "days": "expires within 14 days",
        "old": "expired",
    }
    assert r.err == ""
