"""Several pairs and [sni]: the config keys, check-config and `cert check
NAME --host H` saying which pair serves which configured name, warnings for
names no pair covers, and the server accepting such a config."""
import re
import socket
import ssl
import subprocess
import time

import pytest

from cert_set_util import self_signed, write_conf
from conftest import BIN
from mailserver import free_port

BASE = """\
hostname    = mail.example.test
domains     = example.test
certs_dir   = certs
certificate = mail, mail-ec
[listen]
smtp = 127.0.0.1:{port}
[sni]
*.example.org    = org
mail.example.com = com
*.example.net    = net
"""


@pytest.fixture
def site(tmp_path):
    """certs/: mail (RSA; mail. and imap.example.test), mail-ec (ECDSA;
    mail.example.test), org (*.example.org), com (smtp.example.com), net
    (a.example.net only), spare (not in the config)."""
    certs = str(tmp_path / "certs")
    self_signed(certs, "mail", ["mail.example.test", "imap.example.test"], kind="rsa")
    self_signed(certs, "mail-ec", ["mail.example.test"])
    self_signed(certs, "org", ["*.example.org"])
    self_signed(certs, "com", ["smtp.example.com"])
    self_signed(certs, "net", ["a.example.net"])
    self_signed(certs, "spare", ["spare.example.test"])
    conf = write_conf(tmp_path / "s.conf", BASE.format(port=free_port()))
    return tmp_path, conf


def test_check_config_says_who_serves_what(cli, site):
    tmp_path, conf = site
    r = cli("check-config", "-c", conf)
    assert r.rc == 0, r
    out = r.out.splitlines()
    assert "certificate mail, mail-ec" in out
    assert "sni         *.example.org = org" in out
    assert "sni         mail.example.com = com" in out
    assert [l for l in out if l.startswith("serves")] == [
        "serves      mail.example.test -> mail, mail-ec (hostname; default)",
        "serves      *.example.org -> org ([sni] line 8)",
        "serves      mail.example.com -> com ([sni] line 9; covered by none)",
        "serves      *.example.net -> net ([sni] line 10; covered by none)",
    ]
    assert r.err == (
        f"sealpost: warning: {conf}:4: certificate: pairs mail and mail-ec do "
        "not cover the same names (only mail covers: imap.example.test; only "
        "mail-ec covers: -), and a client gets either by the signature "
        "algorithms it supports\n"
        f"sealpost: warning: {conf}:9: [sni] mail.example.com: no pair covers "
        "it; it is served by com (DNS:smtp.example.com)\n"
        f"sealpost: warning: {conf}:10: [sni] *.example.net: no pair covers it; "
        "it is served by net (DNS:a.example.net) (hosts under example.net that "
        "the pairs cover still get them, the others get the default pair)\n")


def test_single_pair_config_as_before(cli, tmp_path):
    self_signed(str(tmp_path / "certs"), "mail", ["mail.example.test"])
    conf = write_conf(tmp_path / "s.conf", "hostname = mail.example.test\n"
                      "domains = example.test\ncertificate = mail\n"
                      f"[listen]\nsmtp = 127.0.0.1:{free_port()}\n")
    r = cli("check-config", "-c", conf)
    assert r.rc == 0, r
    assert r.err == ""
    assert "certificate mail\n" in r.out
    assert "serves      mail.example.test -> mail (hostname; default)\n" in r.out
    assert "sni " not in r.out


def test_hostname_not_covered_is_a_warning(cli, tmp_path):
    self_signed(str(tmp_path / "certs"), "mail", ["other.example.test"])
    conf = write_conf(tmp_path / "s.conf", "hostname = mail.example.test\n"
                      "domains = example.test\n"
                      f"[listen]\nsmtp = 127.0.0.1:{free_port()}\n")
    r = cli("check-config", "-c", conf)
    assert r.rc == 0, r
    assert r.err == (f"sealpost: warning: {conf}:1: hostname mail.example.test: "
                     "no pair covers it; it is served by mail "
                     "(DNS:other.example.test)\n")
    assert ("serves      mail.example.test -> mail (hostname; default; "
            "covered by none)\n") in r.out


def test_unknown_pair_names_its_line(cli, site):
    tmp_path, conf = site
    with open(conf, "a") as f:
        f.write("a.example.test = mail-ec, nope\n")
    r = cli("check-config", "-c", conf)
    assert r.rc == 1
    assert (f"sealpost: {conf}:11: [sni] a.example.test: pair 'nope' cannot be "
            f"used: {tmp_path}/certs/nope.crt: No such file or directory\n") in r.err
    assert "serves " not in r.out


def test_two_pairs_of_one_key_type(cli, site):
    tmp_path, conf = site
    text = open(conf).read().replace("certificate = mail, mail-ec",
                                     "certificate = mail-ec, org")
    write_conf(conf, text)
    r = cli("check-config", "-c", conf)
    assert r.rc == 1
    assert (f"sealpost: {conf}:4: certificate: pairs mail-ec and org both have "
            "ECDSA keys, and a TLS server serves one pair per key type (list one "
            "RSA and one ECDSA pair)\n") in r.err


@pytest.mark.parametrize("line,message", [
    ("certificate = a, b, c", "4: certificate: at most 2 pairs (one RSA and one "
     "ECDSA pair for the same names)"),
    ("certificate = mail, mail", "4: certificate: 'mail' is listed twice"),
    ("certificate = ../mail", "4: certificate: '../mail' must be a plain file "
     "name (no '/', no leading '.')"),
    ("[sni]\nf*.example.org = org", "8: [sni] 'f*.example.org': expected a host "
     "name such as mail.example.org, or a wildcard such as *.example.org"),
    ("[sni]\n*.example.org = com", "9: [sni] '*.example.org' is set twice "
     "(first on line 8)"),
])
def test_config_errors_name_file_and_line(cli, site, line, message):
    tmp_path, conf = site
    text = open(conf).read()
    if line.startswith("certificate"):
        text = text.replace("certificate = mail, mail-ec", line)
    else:
        text = text.replace("[sni]\n", line + "\n", 1)
    write_conf(conf, text)
    r = cli("check-config", "-c", conf)
    assert r.rc == 1
    assert r.err == f"sealpost: {conf}:{message}\n"


def check(cli, conf, name, *args):
    return cli("cert", "check", name, "-c", conf, *args)


def test_cert_check_names_the_serving_pair(cli, site):
    tmp_path, conf = site
    r = check(cli, conf, "org", "--host", "www.example.org")
    assert r.rc == 0, r
    assert "serves   *.example.org ([sni] line 8; DNS:*.example.org)\n" in r.out
    assert ("serves   www.example.org (--host, [sni] *.example.org, line 8; "
            "DNS:*.example.org)\n") in r.out
    assert r.err == ""
    # The default pair does not serve www.example.org, nor cover it.
    r = check(cli, conf, "mail", "--host", "www.example.org")
    assert r.rc == 1
    assert r.err.splitlines()[-1] == ("sealpost: warning: www.example.org is "
                                      "served by org ([sni] *.example.org, line 8), "
                                      "not by mail")
    r = check(cli, conf, "mail-ec")
    assert r.rc == 0, r
    assert ("serves   mail.example.test (hostname, default; "
            "DNS:mail.example.test)\n") in r.out
    # Served for a name it does not cover: a warning naming the line.
    r = check(cli, conf, "com")
    assert r.rc == 0, r
    assert r.err == (f"sealpost: warning: {conf}:9: mail.example.com is served "
                     "by com, which does not cover it (names: DNS:smtp.example.com)\n")
    assert r.out.endswith("com: ok, 1 warning\n")
    r = check(cli, conf, "spare")
    assert r.rc == 0, r
    assert ("serves   no configured name (spare is in neither certificate nor "
            "[sni])\n") in r.out


def test_wildcard_only_as_far_as_the_certificate_allows(cli, site):
    tmp_path, conf = site
    r = check(cli, conf, "net", "--host", "a.example.net")
    assert r.rc == 0, r
    assert ("serves   a.example.net (--host, [sni] *.example.net, line 10; "
            "DNS:a.example.net)\n") in r.out
    # b.example.net is under the wildcard, but net does not cover it: the
    # default pair serves it.
    r = check(cli, conf, "net", "--host", "b.example.net")
    assert r.rc == 1
    assert ("sealpost: warning: b.example.net is served by mail, mail-ec "
            "(default), not by net\n") in r.err
    # One label only (RFC 6125): a.b.example.org is not under *.example.org.
    r = check(cli, conf, "org", "--host", "a.b.example.org")
    assert r.rc == 1
    assert ("sealpost: warning: a.b.example.org is served by mail, mail-ec "
            "(default), not by org\n") in r.err


def test_cert_check_without_config_as_before(cli, site):
    tmp_path, conf = site
    r = cli("cert", "check", "org", "--dir", "certs", "--host", "www.example.org")
    assert r.rc == 0, r
    assert "serves" not in r.out
    assert r.out.endswith("org: ok\n")


def test_server_accepts_pair_list_and_sni(tmp_path):
    """serve loads a config with a pair list and [sni] and speaks TLS."""
    certs = str(tmp_path / "certs")
    self_signed(certs, "mail", ["mail.example.test", "localhost"])
    self_signed(certs, "mail-ec", ["mail.example.test", "localhost"])
    self_signed(certs, "org", ["*.example.org"])
    port = free_port()
    conf = write_conf(tmp_path / "s.conf", "hostname = mail.example.test\n"
                      "domains = example.test\ndata_dir = data\n"
                      "certificate = mail, mail-ec\nworkers = 1\n"
                      f"[listen]\nsmtps = 127.0.0.1:{port}\n"
                      "[sni]\n*.example.org = org\n")
    log = open(tmp_path / "log", "wb")
    proc = subprocess.Popen([BIN, "serve", "-c", str(conf)],
                            stdout=subprocess.DEVNULL, stderr=log)
    try:
        deadline = time.time() + 20
        while "ready " not in (tmp_path / "log").read_text():
            assert proc.poll() is None, (tmp_path / "log").read_text()
            assert time.time() < deadline, (tmp_path / "log").read_text()
            time.sleep(0.05)
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            with ctx.wrap_socket(s, server_hostname="localhost") as t:
                assert t.recv(512).startswith(b"220 ")
                der = t.getpeercert(binary_form=True)
        pem = ssl.DER_cert_to_PEM_cert(der)
        text = subprocess.run(["openssl", "x509", "-noout", "-ext",
                               "subjectAltName"], input=pem, text=True,
                              capture_output=True, check=True).stdout
        assert "DNS:localhost" in text
    finally:
        proc.terminate()
        assert proc.wait(30) == 0
        log.close()
    text = (tmp_path / "log").read_text()
    assert not re.search("AddressSanitizer|runtime error|LeakSanitizer", text), text
