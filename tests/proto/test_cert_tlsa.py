"""sealpost cert tlsa: DANE TLSA records ready for a zone file, each digest
checked against `openssl x509 -pubkey | openssl pkey -pubin -outform DER |
openssl dgst -sha256`; the issuing CA's 2 1 1; the next key's 3 1 1 for a
key rollover (RFC 7671); host, port and errors."""
import os
import re
import shutil

import pytest

from cert_set_util import ca_signed, self_signed, spki_sha256, write_conf
from pki_material import get_material


@pytest.fixture(scope="module")
def mat(tmp_path_factory):
    return get_material(tmp_path_factory)


def records(out):
    """The record lines of out (every other line must be a ';' comment)."""
    lines = out.splitlines()
    for line in lines:
        assert line.startswith("; ") or " IN TLSA " in line, line
    return [line for line in lines if not line.startswith(";")]


def test_self_signed(cli, tmp_path):
    self_signed(str(tmp_path / "certs"), "mail", ["mail.example.org"])
    r = cli("cert", "tlsa", "mail", "--dir", "certs", "--host", "Mail.Example.ORG")
    assert r.rc == 0, r
    assert r.err == ""
    digest = spki_sha256(str(tmp_path / "certs/mail.crt"))
    assert records(r.out) == [f"_25._tcp.mail.example.org. IN TLSA 3 1 1 {digest}"]
    assert "; no 2 1 1 record: the certificate is self-signed\n" in r.out
    assert re.search(r"^; DANE-EE: the key of pair mail \(ECDSA P-256, certificate "
                     r"valid until \d{4}-", r.out, re.M)


def test_rsa_key_and_port(cli, tmp_path):
    self_signed(str(tmp_path / "certs"), "mail", ["mail.example.org"], kind="rsa")
    r = cli("cert", "tlsa", "mail", "--dir", "certs", "--host", "mx1.example.org",
            "--port", "465")
    assert r.rc == 0, r
    digest = spki_sha256(str(tmp_path / "certs/mail.crt"))
    assert records(r.out) == [f"_465._tcp.mx1.example.org. IN TLSA 3 1 1 {digest}"]


def test_ca_signed_adds_the_issuer(cli, mat, tmp_path):
    ca_signed(str(tmp_path / "certs"), "mail", ["mail.example.org"], mat)
    r = cli("cert", "tlsa", "mail", "--dir", "certs", "--host", "mail.example.org")
    assert r.rc == 0, r
    leaf = spki_sha256(str(tmp_path / "certs/mail.crt"))
    ca = spki_sha256(os.path.join(mat, "int.crt"))
    assert leaf != ca
    assert records(r.out) == [
        f"_25._tcp.mail.example.org. IN TLSA 3 1 1 {leaf}",
        f"_25._tcp.mail.example.org. IN TLSA 2 1 1 {ca}",
    ]
    assert ("; DANE-TA: the CA that issued it, 'O=Sealpost Test, CN=Test "
            "Intermediate CA'\n") in r.out


def test_issuer_not_in_file(cli, mat, tmp_path):
    """A leaf stored without its intermediate: no 2 1 1 record, and why."""
    ca_signed(str(tmp_path / "certs"), "mail", ["mail.example.org"], mat)
    crt = open(tmp_path / "certs/mail.crt").read()
    end = "-----END CERTIFICATE-----\n"
    open(tmp_path / "certs/mail.crt", "w").write(crt[: crt.index(end) + len(end)])
    r = cli("cert", "tlsa", "mail", "--dir", "certs", "--host", "mail.example.org")
    assert r.rc == 0, r
    assert len(records(r.out)) == 1
    assert ("; no 2 1 1 record: the issuer of the certificate is not in "
            "certs/mail.crt\n") in r.out


def test_next_key_for_rollover(cli, tmp_path):
    certs = str(tmp_path / "certs")
    self_signed(certs, "mail", ["mail.example.org"])
    self_signed(certs, "mail-next", ["mail.example.org"])
    current = spki_sha256(os.path.join(certs, "mail.crt"))
    nxt = spki_sha256(os.path.join(certs, "mail-next.key"), pubin=True)
    assert nxt == spki_sha256(os.path.join(certs, "mail-next.crt"))
    r = cli("cert", "tlsa", "mail", "--dir", "certs", "--host", "mail.example.org",
            "--next", "certs/mail-next.key")
    assert r.rc == 0, r
    assert r.err == ""
    assert records(r.out) == [
        f"_25._tcp.mail.example.org. IN TLSA 3 1 1 {current}",
        f"_25._tcp.mail.example.org. IN TLSA 3 1 1 {nxt}",
    ]
    assert ("; the next key, certs/mail-next.key (ECDSA P-256): publish both 3 1 1 "
            "records now, switch after two TTLs, then remove the old one\n") in r.out
    # A certificate for the next key gives the same record.
    r = cli("cert", "tlsa", "mail", "--dir", "certs", "--host", "mail.example.org",
            "--next", "certs/mail-next.crt")
    assert r.rc == 0, r
    assert records(r.out)[-1].endswith(nxt)
    # The key already served: said, and not printed twice.
    r = cli("cert", "tlsa", "mail", "--dir", "certs", "--host", "mail.example.org",
            "--next", "certs/mail.key")
    assert r.rc == 0, r
    assert len(records(r.out)) == 1
    assert r.err == ("sealpost: warning: certs/mail.key: this is the key mail "
                     "serves already; its record is above\n")


def test_next_key_problems(cli, mat, tmp_path):
    self_signed(str(tmp_path / "certs"), "mail", ["mail.example.org"])
    base = ("cert", "tlsa", "mail", "--dir", "certs", "--host", "mail.example.org")
    r = cli(*base, "--next", "none.key")
    assert r.rc == 1
    assert r.err == "sealpost: none.key: No such file or directory\n"
    shutil.copy(os.path.join(mat, "ed.key"), tmp_path / "ed.key")
    r = cli(*base, "--next", "ed.key")
    assert r.rc == 1
    assert r.err.startswith("sealpost: ed.key: unsupported key type ED25519")
    shutil.copy(os.path.join(mat, "ec.enc.key"), tmp_path / "enc.key")
    r = cli(*base, "--next", "enc.key")
    assert r.rc == 1
    assert r.err.startswith("sealpost: enc.key: private key is encrypted")
    shutil.copy(os.path.join(mat, "text.crt"), tmp_path / "text.key")
    r = cli(*base, "--next", "text.key")
    assert r.rc == 1
    assert r.err.startswith("sealpost: text.key: ")


def test_host_from_config(cli, tmp_path):
    self_signed(str(tmp_path / "certs"), "mail", ["mx.example.org"])
    conf = write_conf(tmp_path / "s.conf", "hostname = MX.example.org\n"
                      "domains = example.org\n")
    r = cli("cert", "tlsa", "mail", "-c", conf)
    assert r.rc == 0, r
    digest = spki_sha256(str(tmp_path / "certs/mail.crt"))
    assert records(r.out) == [f"_25._tcp.mx.example.org. IN TLSA 3 1 1 {digest}"]
    # Without a config file the host must be named.
    r = cli("cert", "tlsa", "mail", "--dir", "certs")
    assert r.rc == 2
    assert r.err.startswith("sealpost: --host HOST is required when no config "
                            "file names the hostname\nusage: sealpost cert tlsa NAME")


@pytest.mark.parametrize("args,message", [
    (["--host", "192.0.2.1"], "--host '192.0.2.1': expected the host name clients "
     "connect to, such as mail.example.org"),
    (["--host", "*.example.org"], "--host '*.example.org': expected the host name"),
    (["--host", "a.example.org", "--port", "0"], "--port '0': expected 1 to 65535"),
    (["--host", "a.example.org", "--port", "70000"], "--port '70000': expected 1 "
     "to 65535"),
])
def test_bad_options(cli, tmp_path, args, message):
    self_signed(str(tmp_path / "certs"), "mail", ["mail.example.org"])
    r = cli("cert", "tlsa", "mail", "--dir", "certs", *args)
    assert r.rc == 2, r
    assert r.err.startswith(f"sealpost: {message}"), r.err


def test_broken_pairs(cli, mat, tmp_path):
    certs = tmp_path / "certs"
    self_signed(str(certs), "mail", ["mail.example.org"])
    base = ("--dir", "certs", "--host", "mail.example.org")
    r = cli("cert", "tlsa", "nope", *base)
    assert r.rc == 1
    assert r.err == "sealpost: certs/nope.crt: No such file or directory\n"
    # A record for a certificate whose key does not match would be wrong.
    shutil.copy(os.path.join(mat, "ec.key"), certs / "mail.key")
    r = cli("cert", "tlsa", "mail", *base)
    assert r.rc == 1
    assert r.err == ("sealpost: certs/mail.key: key does not match certificate "
                     "certs/mail.crt\n")
    assert r.out == ""
