"""sealpost cert import: every accepted format, and every bad input.

Fixtures come from pki_material (made with the openssl command line). The
binary runs with the material folder as its working folder, so messages
name the input files as given; the certs folder is tmp_path/certs.
"""
import os
import re
import subprocess

import pytest

from conftest import run_cli
from pki_material import get_material, openssl, snapshot


@pytest.fixture(scope="module")
def mat(tmp_path_factory):
    return get_material(tmp_path_factory)


def imp(mat, certs, *args):
    return run_cli("cert", "import", *args, "--dir", certs, cwd=mat)


def pem_blocks(path):
    text = open(path).read()
    return re.findall(r"-----BEGIN ([A-Z ]+)-----", text)


def subjects(mat, path):
    """Subjects of the certificates in a PEM file, in order."""
    out = []
    text = open(path).read()
    for block in re.findall(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----",
                            text, re.S):
        subj = openssl("x509", "-noout", "-subject", "-nameopt", "RFC2253",
                       cwd=mat, input=block.encode()).decode().strip()
        out.append(subj.replace("subject=", ""))
    return out


def pubkey_of_key(mat, path):
    return openssl("pkey", "-in", path, "-pubout", cwd=mat)


def pubkey_of_cert(mat, path):
    return openssl("x509", "-in", path, "-noout", "-pubkey", cwd=mat)


LEAF = "CN=mail.example.test"
INTER = "CN=Test Intermediate CA,O=Sealpost Test"

# (arguments, stored name, key description, chain subjects after the leaf)
GOOD = [
    (["rsa.crt", "--key", "rsa.key"], "rsa", "RSA 2048", []),
    (["rsa.crt", "--key", "rsa.pkcs1.key"], "rsa", "RSA 2048", []),
    (["rsa.crt", "--key", "rsa.enc.key", "--passphrase-file", "pass.txt"], "rsa", "RSA 2048", []),
    (["rsa.crt", "--key", "rsa.legacy.key", "--passphrase-file", "pass.txt"], "rsa", "RSA 2048", []),
    (["ec.crt", "--key", "ec.key"], "ec", "ECDSA P-256", []),
    (["ec.crt", "--key", "ec.sec1.key"], "ec", "ECDSA P-256", []),
    (["ec.crt", "--key", "ec.enc.key", "--passphrase-file", "pass.txt"], "ec", "ECDSA P-256", []),
    (["ec.crt", "--key", "ec.legacy.key", "--passphrase-file", "pass.txt"], "ec", "ECDSA P-256", []),
    (["rsa.der", "--key", "rsa.key.der"], "rsa", "RSA 2048", []),
    (["rsa.der", "--key", "rsa.pkcs1.der"], "rsa", "RSA 2048", []),
    (["ec.der", "--key", "ec.key.der"], "ec", "ECDSA P-256", []),
    (["ec.der", "--key", "ec.enc.der", "--passphrase-file", "pass.txt"], "ec", "ECDSA P-256", []),
    (["rsa.p12", "--passphrase-file", "pass.txt"], "rsa", "RSA 2048", [INTER]),
    (["ec.p12", "--passphrase-file", "pass.txt"], "ec", "ECDSA P-256", [INTER]),
    (["ec.nopass.p12"], "ec.nopass", "ECDSA P-256", [INTER]),
    (["ec.plain.pfx"], "ec.plain", "ECDSA P-256", []),
    (["rsa.legacy.p12", "--passphrase-file", "pass.txt"], "rsa.legacy", "RSA 2048", [INTER]),
    (["rsa.p7b", "--key", "rsa.key"], "rsa", "RSA 2048", [INTER]),
    (["rsa.bags.pem"], "rsa.bags", "RSA 2048", [INTER]),
    (["rsa.full.pem", "--key", "rsa.key"], "rsa.full", "RSA 2048", [INTER]),
    (["rsa.shuffled.pem", "--key", "rsa.key"], "rsa.shuffled", "RSA 2048", [INTER]),
    (["rsa.bom.pem", "--key", "rsa.crlf.key"], "rsa.bom", "RSA 2048", [INTER]),
    (["rsa.crlf.pem", "--key", "rsa.key"], "rsa.crlf", "RSA 2048", [INTER]),
    (["rsa.messy.pem", "--key", "rsa.key"], "rsa.messy", "RSA 2048", [INTER]),
    (["ec.keymiddle.pem"], "ec.keymiddle", "ECDSA P-256", [INTER]),
    (["ec.chainfirst.pem"], "ec.chainfirst", "ECDSA P-256", [INTER]),
    (["ec.enc.combined.pem", "--passphrase-file", "pass.txt"], "ec.enc.combined",
     "ECDSA P-256", [INTER]),
    (["ec.legacy.combined.pem", "--passphrase-file", "pass.txt"], "ec.legacy.combined",
     "ECDSA P-256", []),
]


@pytest.mark.parametrize("args,name,keydesc,chain", GOOD,
                         ids=[" ".join(g[0]) for g in GOOD])
def test_import_formats(mat, tmp_path, args, name, keydesc, chain):
    certs = tmp_path / "certs"
    r = imp(mat, certs, *args)
    assert r.rc == 0, r
    crt, key = certs / f"{name}.crt", certs / f"{name}.key"
    assert f"imported {certs}/{name}.crt (certificate + {len(chain)} intermediate" in r.out
    assert f"and {key} ({keydesc})" in r.out
    assert sorted(os.listdir(certs)) == [f"{name}.crt", f"{name}.key"]
    # NAME.key: unencrypted PKCS#8 PEM, mode 0600; NAME.crt: leaf, then chain.
    assert os.stat(key).st_mode & 0o777 == 0o600
    assert pem_blocks(key) == ["PRIVATE KEY"]
    assert subjects(mat, crt) == [LEAF] + chain
    assert pubkey_of_key(mat, key) == pubkey_of_cert(mat, crt)
    # A root in the input is never stored.
    assert "Test Root CA" not in " ".join(subjects(mat, crt))


def test_root_left_out_with_warning(mat, tmp_path):
    certs = tmp_path / "certs"
    r = imp(mat, certs, "rsa.shuffled.pem", "--key", "rsa.key", "--name", "mail")
    assert r.rc == 0, r
    assert r.err == ("sealpost: warning: rsa.shuffled.pem: self-signed root "
                     "'O=Sealpost Test, CN=Test Root CA' left out of the served "
                     "chain (clients must already trust it)\n")
    assert subjects(mat, certs / "mail.crt") == [LEAF, INTER]
    # The stored chain verifies against the root.
    proc = subprocess.run(["openssl", "verify", "-CAfile", "root.crt", "-untrusted",
                           str(certs / "mail.crt"), str(certs / "mail.crt")],
                          cwd=mat, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_key_renamed_to_certificate(mat, tmp_path):
    """cert2.key + bobscert.crt -> bobscert.key + bobscert.crt; --name renames both."""
    work = tmp_path / "in"
    work.mkdir()
    (work / "bobscert.crt").write_bytes(open(os.path.join(mat, "ec.crt"), "rb").read())
    (work / "cert2.key").write_bytes(open(os.path.join(mat, "ec.key"), "rb").read())
    certs = tmp_path / "certs"
    r = run_cli("cert", "import", "bobscert.crt", "--key", "cert2.key",
                "--dir", certs, cwd=work)
    assert r.rc == 0, r
    assert sorted(os.listdir(certs)) == ["bobscert.crt", "bobscert.key"]
    r = run_cli("cert", "import", "bobscert.crt", "--key", "cert2.key",
                "--name", "mail", "--dir", certs, cwd=work)
    assert r.rc == 0, r
    assert sorted(os.listdir(certs)) == ["bobscert.crt", "bobscert.key",
                                         "mail.crt", "mail.key"]


def test_existing_name_needs_force(mat, tmp_path):
    certs = tmp_path / "certs"
    assert imp(mat, certs, "ec.crt", "--key", "ec.key", "--name", "mail").rc == 0
    before = snapshot(certs)
    r = imp(mat, certs, "rsa.crt", "--key", "rsa.key", "--name", "mail")
    assert r.rc == 1
    assert r.err == f"sealpost: {certs}/mail.key already exists (use --force to replace it)\n"
    assert snapshot(certs) == before
    r = imp(mat, certs, "rsa.crt", "--key", "rsa.key", "--name", "mail", "--force")
    assert r.rc == 0, r
    assert "(RSA 2048)" in r.out
    assert pubkey_of_key(mat, certs / "mail.key") == pubkey_of_key(mat, "rsa.key")
    assert sorted(os.listdir(certs)) == ["mail.crt", "mail.key"]


@pytest.mark.parametrize("name,when", [("expired", "expired on 2021-01-01 00:00:00 UTC"),
                                       ("future", "is not valid before 2099-01-01 00:00:00 UTC")])
def test_dated_certificates_imported_with_warning(mat, tmp_path, name, when):
    certs = tmp_path / "certs"
    r = imp(mat, certs, f"{name}.crt", "--key", f"{name}.key")
    assert r.rc == 0, r
    assert r.err == f"sealpost: warning: {name}.crt: the certificate {when}\n"
    assert sorted(os.listdir(certs)) == [f"{name}.crt", f"{name}.key"]


ALG = "(supported: RSA of 2048 bits or more, ECDSA P-256, P-384, P-521)"
ENCRYPTED = "private key is encrypted (expected its passphrase in --passphrase-file FILE)"
WRONG = "wrong passphrase (from wrong.txt): cannot decrypt the private key"
UNRECOGNISED = ("unrecognised or truncated data (expected a PEM or DER certificate "
                "or private key, or PKCS#12)")

# (arguments, the exact message after "sealpost: ")
BAD = [
    (["rsa.crt", "--key", "ec.key"], "ec.key: key does not match certificate rsa.crt"),
    (["rsa.crt", "--key", "other.key"], "other.key: key does not match certificate rsa.crt"),
    (["rsa.full.pem", "--key", "ec.key"],
     "ec.key: key matches none of the 3 certificates in rsa.full.pem"),
    (["ec.key"], "ec.key: no certificate found (expected a PEM or DER certificate, "
                 "PKCS#7 or PKCS#12)"),
    (["rsa.csr", "--key", "rsa.key"], "rsa.csr: holds a certificate request, not a "
     "certificate (expected the certificate your CA issued for it)"),
    (["rsa.crt"], "rsa.crt: no private key found (expected one in this file, or "
                  "--key KEYFILE)"),
    (["rsa.crt", "--key", "int.crt"], "int.crt: no private key found (expected a PEM "
                                      "or DER private key, or PKCS#12)"),
    (["ec.twokeys.pem"], "ec.twokeys.pem: holds 2 private keys (expected one)"),
    (["rsa.crt", "--key", "rsa.enc.key"], f"rsa.enc.key: {ENCRYPTED}"),
    (["rsa.crt", "--key", "rsa.legacy.key"], f"rsa.legacy.key: {ENCRYPTED}"),
    (["ec.der", "--key", "ec.enc.der"], f"ec.enc.der: {ENCRYPTED}"),
    (["ec.enc.combined.pem"], f"ec.enc.combined.pem: {ENCRYPTED}"),
    (["rsa.p12"], "rsa.p12: the PKCS#12 file is protected by a passphrase "
                  "(expected --passphrase-file FILE)"),
    (["rsa.crt", "--key", "rsa.enc.key", "--passphrase-file", "wrong.txt"],
     f"rsa.enc.key: {WRONG}"),
    (["rsa.crt", "--key", "rsa.legacy.key", "--passphrase-file", "wrong.txt"],
     f"rsa.legacy.key: {WRONG}"),
    (["ec.crt", "--key", "ec.legacy.key", "--passphrase-file", "wrong.txt"],
     f"ec.legacy.key: {WRONG}"),
    (["ec.der", "--key", "ec.enc.der", "--passphrase-file", "wrong.txt"],
     f"ec.enc.der: {WRONG}"),
    (["rsa.p12", "--passphrase-file", "wrong.txt"], f"rsa.p12: {WRONG}"),
    (["rsa.crt", "--key", "rsa.key", "--passphrase-file", "empty.crt"],
     "empty.crt: the first line is empty (expected the passphrase)"),
    (["garbage.crt", "--key", "rsa.key"], f"garbage.crt: {UNRECOGNISED}"),
    (["truncated.der", "--key", "rsa.key"], f"truncated.der: {UNRECOGNISED}"),
    (["text.crt", "--key", "rsa.key"], f"text.crt: {UNRECOGNISED}"),
    (["rsa.crt", "--key", "garbage.crt"], f"garbage.crt: {UNRECOGNISED}"),
    (["truncated.pem", "--key", "rsa.key"],
     "truncated.pem: PEM block 1 is truncated or corrupt (bad end line)"),
    (["empty.crt", "--key", "rsa.key"],
     "empty.crt: the file is empty (expected a certificate or key)"),
    (["missing.crt", "--key", "rsa.key"], "missing.crt: No such file or directory"),
    (["rsa.crt", "--key", "missing.key"], "missing.key: No such file or directory"),
    (["rsa.crt", "--key", "rsa.enc.key", "--passphrase-file", "missing.txt"],
     "missing.txt: No such file or directory"),
    (["new", "--key", "rsa.key"], "new: not a regular file"),
    (["ed.crt", "--key", "ed.key"], f"ed.key: unsupported key type ED25519 {ALG}"),
    (["rsa.crt", "--key", "dsa.key"], f"dsa.key: unsupported key type DSA {ALG}"),
    (["rsa.crt", "--key", "dsa.trad.key"], f"dsa.trad.key: unsupported key type DSA {ALG}"),
    (["small.crt", "--key", "small.key"],
     f"small.key: RSA key of 1024 bits is too small {ALG}"),
]
if os.geteuid() != 0:   # root reads anything
    BAD.append((["unreadable.crt", "--key", "rsa.key"],
                "unreadable.crt: Permission denied"))


@pytest.fixture(scope="module")
def bad_material(mat):
    d = mat
    if not os.path.exists(os.path.join(d, "ec.twokeys.pem")):
        data = b"".join(open(os.path.join(d, n), "rb").read()
                        for n in ("ec.key", "ec.crt", "other.key"))
        open(os.path.join(d, "ec.twokeys.pem"), "wb").write(data)
        openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024",
                "-out", "small.key", cwd=d)
        openssl("req", "-x509", "-new", "-key", "small.key", "-subj", "/CN=small",
                "-days", "30", "-out", "small.crt", cwd=d)
        open(os.path.join(d, "unreadable.crt"), "wb").write(
            open(os.path.join(d, "rsa.crt"), "rb").read())
        os.chmod(os.path.join(d, "unreadable.crt"), 0)
    return d


@pytest.mark.parametrize("args,message", BAD, ids=[" ".join(b[0]) for b in BAD])
def test_bad_input(bad_material, tmp_path, args, message):
    """One line naming the file and what was expected, exit 1, the certs
    folder exactly as it was (an existing pair, no temporary files)."""
    mat = bad_material
    certs = tmp_path / "certs"
    assert imp(mat, certs, "ec.crt", "--key", "ec.key", "--name", "keep").rc == 0
    before = snapshot(certs)
    r = imp(mat, certs, *args, "--name", "keep", "--force")
    assert r.rc == 1, r
    assert r.err == f"sealpost: {message}\n"
    assert r.out == ""
    assert snapshot(certs) == before
    # Without an existing folder, none is created.
    fresh = tmp_path / "fresh"
    r = imp(mat, fresh, *args)
    assert r.rc == 1
    assert not fresh.exists()


def test_bad_name(mat, tmp_path):
    certs = tmp_path / "certs"
    r = imp(mat, certs, "rsa.crt", "--key", "rsa.key", "--name", "../evil")
    assert r.rc == 2
    assert r.err.startswith("sealpost: '../evil' cannot be a certificate name")
    assert not certs.exists()
    work = tmp_path / "in"
    work.mkdir()
    (work / "my cert.crt").write_bytes(open(os.path.join(mat, "ec.crt"), "rb").read())
    r = run_cli("cert", "import", "my cert.crt", "--key", os.path.join(mat, "ec.key"),
                "--dir", certs, cwd=work)
    assert r.rc == 1
    assert r.err == ("sealpost: my cert.crt: 'my cert' cannot be a certificate name "
                     "(expected letters, digits, '.', '-', '_'; give --name NAME)\n")
