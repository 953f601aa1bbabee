"""sealpost cert create / list / show / check, the CA round trip, the certs
folder from the config, and crash recovery through the CLI."""
import datetime
import os
import re
import shutil
import subprocess

import pytest

from pki_material import get_material, openssl, snapshot


@pytest.fixture(scope="module")
def mat(tmp_path_factory):
    return get_material(tmp_path_factory)


def x509_text(path):
    return subprocess.run(["openssl", "x509", "-in", str(path), "-noout", "-text"],
                          capture_output=True, text=True, check=True).stdout


def serial_of(path):
    out = subprocess.run(["openssl", "x509", "-in", str(path), "-noout", "-serial"],
                         capture_output=True, text=True, check=True).stdout
    return int(out.strip().split("=")[1], 16)


def create(cli, name, *args):
    return cli("cert", "create", name, "--dir", "certs", *args)


# ---- create -------------------------------------------------------------

def test_create_rsa(cli, tmp_path):
    r = create(cli, "mail", "--cn", "mail.example.test", "--bits", "2048",
               "--san", "DNS:imap.example.test,IP:192.0.2.7,email:pm@example.test",
               "--org", "Example Org", "--unit", "IT", "--locality", "Berlin",
               "--state", "Berlin", "--country", "de", "--email", "pm@example.test")
    assert r.rc == 0, r
    certs = tmp_path / "certs"
    assert sorted(os.listdir(certs)) == ["mail.crt", "mail.csr", "mail.key"]
    assert os.stat(certs / "mail.key").st_mode & 0o777 == 0o600
    assert open(certs / "mail.key").read().startswith("-----BEGIN PRIVATE KEY-----")
    assert "created certs/mail.key (RSA 2048, mode 0600)" in r.out
    assert "created certs/mail.crt (self-signed, valid until " in r.out
    # Progress on stderr, and nothing else.
    assert re.fullmatch(r"generating RSA 2048 key\.* done\n", r.err), r.err
    # openssl accepts the request and the self-signed certificate.
    v = subprocess.run(["openssl", "req", "-verify", "-noout", "-in", "certs/mail.csr"],
                       cwd=tmp_path, capture_output=True, text=True)
    assert v.returncode == 0 and "verify OK" in v.stdout + v.stderr, v
    v = subprocess.run(["openssl", "verify", "-CAfile", "certs/mail.crt", "certs/mail.crt"],
                       cwd=tmp_path, capture_output=True, text=True)
    assert v.returncode == 0 and "certs/mail.crt: OK" in v.stdout, v
    text = x509_text(certs / "mail.crt")
    assert "Version: 3 (0x2)" in text
    assert "Signature Algorithm: sha256WithRSAEncryption" in text
    assert re.search(r"Basic Constraints: critical\s+CA:FALSE", text)
    assert re.search(r"Key Usage: critical\s+Digital Signature, Key Encipherment", text)
    assert re.search(r"Extended Key Usage: \s*TLS Web Server Authentication", text)
    assert "X509v3 Subject Key Identifier" in text
    assert re.search(r"Subject Alternative Name: \s*DNS:mail.example.test, "
                     r"DNS:imap.example.test, IP Address:192.0.2.7, "
                     r"email:pm@example.test", text)
    assert ("Subject: C = DE, ST = Berlin, L = Berlin, O = Example Org, OU = IT, "
            "CN = mail.example.test, emailAddress = pm@example.test") in text
    # The CSR carries the same subject and the SAN request.
    req = subprocess.run(["openssl", "req", "-in", "certs/mail.csr", "-noout", "-text"],
                         cwd=tmp_path, capture_output=True, text=True).stdout
    assert "CN = mail.example.test" in req and "DNS:imap.example.test" in req
    # Default validity: 365 days.
    m = re.search(r"Not Before: (.*) GMT\s+Not After : (.*) GMT", text)
    fmt = "%b %d %H:%M:%S %Y"
    days = (datetime.datetime.strptime(m.group(2).replace("  ", " "), fmt) -
            datetime.datetime.strptime(m.group(1).replace("  ", " "), fmt)).days
    assert days == 365
    assert serial_of(certs / "mail.crt").bit_length() == 128


def test_create_default_rsa_4096(cli, tmp_path):
    r = create(cli, "big", "--cn", "big.example.test")
    assert r.rc == 0, r
    assert "created certs/big.key (RSA 4096, mode 0600)" in r.out
    assert re.fullmatch(r"generating RSA 4096 key \(this takes a few seconds\)\.* done\n",
                        r.err), r.err
    assert "Public-Key: (4096 bit)" in x509_text(tmp_path / "certs/big.crt")


def test_create_ecdsa_and_serials_differ(cli, tmp_path):
    r = create(cli, "ec", "--cn", "*.example.test", "--type", "ecdsa", "--days", "31")
    assert r.rc == 0, r
    r = create(cli, "ec2", "--cn", "*.example.test", "--type", "ecdsa", "--bits", "256")
    assert r.rc == 0, r
    certs = tmp_path / "certs"
    text = x509_text(certs / "ec.crt")
    assert "ASN1 OID: prime256v1" in text
    assert "ecdsa-with-SHA256" in text
    assert re.search(r"Subject Alternative Name: \s*DNS:\*\.example\.test\n", text)
    s1, s2 = serial_of(certs / "ec.crt"), serial_of(certs / "ec2.crt")
    assert s1 != s2 and s1.bit_length() == s2.bit_length() == 128
    # 31 days left is not yet "expiring soon"; the wildcard covers one label.
    r = cli("cert", "check", "ec", "--dir", "certs", "--host", "a.example.test")
    assert r.rc == 0, r
    assert r.err == ""
    assert "ok       valid until " in r.out and "(31 days left)" in r.out


def test_create_never_overwrites(cli, tmp_path):
    assert create(cli, "mail", "--cn", "a.example.test", "--type", "ecdsa").rc == 0
    before = snapshot(tmp_path / "certs")
    r = create(cli, "mail", "--cn", "b.example.test", "--type", "ecdsa")
    assert r.rc == 1
    assert r.err == "sealpost: certs/mail.key already exists (use --force to replace it)\n"
    assert snapshot(tmp_path / "certs") == before
    # A lone CSR of that name blocks too.
    os.unlink(tmp_path / "certs/mail.key")
    os.unlink(tmp_path / "certs/mail.crt")
    r = create(cli, "mail", "--cn", "b.example.test", "--type", "ecdsa")
    assert r.err == "sealpost: certs/mail.csr already exists (use --force to replace it)\n"
    r = create(cli, "mail", "--cn", "b.example.test", "--type", "ecdsa", "--force")
    assert r.rc == 0, r
    assert "CN = b.example.test" in x509_text(tmp_path / "certs/mail.crt")
    assert sorted(os.listdir(tmp_path / "certs")) == ["mail.crt", "mail.csr", "mail.key"]


BAD_OPTIONS = [
    (["--cn", "mail example"], "--cn 'mail example': expected a host name such as "
     "mail.example.com, a wildcard such as *.example.com, or an IP address"),
    (["--cn", "*.com"], "--cn '*.com': expected a host name"),
    ([], "--cn HOST is required"),
    (["--cn", "a.test", "--san", "URI:http://x"], "--san 'URI:http://x': expected "
     "DNS:HOST (or DNS:*.DOMAIN), IP:ADDRESS or email:ADDRESS"),
    (["--cn", "a.test", "--san", "a.test"], "--san 'a.test': expected DNS:HOST"),
    (["--cn", "a.test", "--san", "IP:1.2.3"], "--san 'IP:1.2.3': expected DNS:HOST"),
    (["--cn", "a.test", "--country", "USA"], "--country 'USA': expected exactly 2 "
     "letters (an ISO 3166 code such as DE or US)"),
    (["--cn", "a.test", "--country", "1"], "--country '1': expected exactly 2 letters"),
    (["--cn", "a.test", "--days", "0"], "--days '0': expected 1 to 3650"),
    (["--cn", "a.test", "--days", "3651"], "--days '3651': expected 1 to 3650"),
    (["--cn", "a.test", "--days", "ten"], "--days 'ten': expected 1 to 3650"),
    (["--cn", "a.test", "--bits", "1024"], "--bits '1024': expected 2048 or 4096"),
    (["--cn", "a.test", "--type", "dsa"], "--type 'dsa': expected rsa or ecdsa"),
    (["--cn", "a.test", "--type", "ecdsa", "--bits", "2048"],
     "--bits '2048': ECDSA keys are P-256 (256 bits); --bits is for RSA"),
    (["--cn", "a.test", "--email", "nobody"], "--email 'nobody': expected an address"),
    (["--cn", "a.test", "--org", "x" * 65], "--org '" + "x" * 65 + "': expected 1 to 64"),
]


@pytest.mark.parametrize("args,message", BAD_OPTIONS,
                         ids=[" ".join(a) or "no-cn" for a, _ in BAD_OPTIONS])
def test_create_bad_options(cli, tmp_path, args, message):
    r = create(cli, "mail", *args)
    assert r.rc == 2, r
    first = r.err.splitlines()[0]
    assert first.startswith(f"sealpost: {message}"), first
    assert "usage: sealpost cert create NAME --cn HOST" in r.err
    assert not (tmp_path / "certs").exists()


def test_create_bad_name(cli, tmp_path):
    r = create(cli, ".hidden", "--cn", "a.test")
    assert r.rc == 2
    assert r.err.startswith("sealpost: '.hidden' cannot be a certificate name")


# ---- the admin's round trip ---------------------------------------------

def sign_csr(mat, csr, out, days=90):
    openssl("x509", "-req", "-in", csr, "-CA", "int.crt", "-CAkey", "int.key",
            "-set_serial", "4242", "-days", days, "-copy_extensions", "copy",
            "-extfile", "ext.cnf", "-extensions", "leaf_ext", "-out", out, cwd=mat)


def test_round_trip_ca_signed(cli, mat, tmp_path):
    """create -> a CA signs the CSR -> import with the original key -> check."""
    r = create(cli, "mail", "--cn", "mail.example.test", "--bits", "2048",
               "--san", "DNS:imap.example.test")
    assert r.rc == 0, r
    sign_csr(mat, tmp_path / "certs/mail.csr", tmp_path / "signed.crt")
    r = cli("cert", "import", "signed.crt", "--key", "certs/mail.key", "--name", "mail",
            "--dir", "certs")
    assert r.rc == 1
    assert r.err == "sealpost: certs/mail.key already exists (use --force to replace it)\n"
    r = cli("cert", "import", "signed.crt", "--key", "certs/mail.key", "--name", "mail",
            "--force", "--dir", "certs")
    assert r.rc == 0, r
    assert r.err == ""
    assert "issuer   O=Sealpost Test, CN=Test Intermediate CA" in r.out
    r = cli("cert", "check", "mail", "--host", "mail.example.test", "--dir", "certs")
    assert r.rc == 0, r
    assert "ok       key (RSA 2048) matches the certificate" in r.out
    assert "ok       covers mail.example.test (DNS:mail.example.test)" in r.out
    assert r.out.endswith("mail: ok, 1 warning\n")
    # The test CA is in no trust store: said, but not an error.
    assert r.err == ("sealpost: warning: certs/mail.crt: issuer 'O=Sealpost Test, "
                     "CN=Test Intermediate CA' of 'CN=mail.example.test' is neither "
                     "in the file nor in the system trust store (an intermediate may "
                     "be missing, or clients must be told to trust it)\n")
    r = cli("cert", "show", "mail", "--dir", "certs")
    assert r.rc == 0, r
    assert "issuer       O=Sealpost Test, CN=Test Intermediate CA\n" in r.out
    assert "key          RSA 2048, matches the certificate\n" in r.out

    # The same with the CA's chain bundle: the intermediate is served, the
    # root left out, and with the root trusted the chain is complete.
    with open(tmp_path / "bundle.pem", "wb") as f:
        for part in ("signed.crt", os.path.join(mat, "int.crt"),
                     os.path.join(mat, "root.crt")):
            f.write(open(tmp_path / part, "rb").read())
    r = cli("cert", "import", "bundle.pem", "--key", "certs/mail.key", "--name", "mail",
            "--force", "--dir", "certs")
    assert r.rc == 0, r
    assert "left out of the served chain" in r.err
    assert "(certificate + 1 intermediate)" in r.out
    r = cli("cert", "check", "mail", "--dir", "certs",
            env={"SSL_CERT_FILE": os.path.join(mat, "root.crt")})
    assert r.rc == 0, r
    assert r.err == ""
    assert ("ok       chain complete and in order (1 intermediate), ends at trusted "
            "root 'O=Sealpost Test, CN=Test Root CA'") in r.out
    assert r.out.endswith("mail: ok\n")


# ---- list / show / check -------------------------------------------------

def put_pair(mat, certs, name, crt, key):
    os.makedirs(certs, exist_ok=True)
    shutil.copy(os.path.join(mat, crt), certs / f"{name}.crt")
    shutil.copy(os.path.join(mat, key), certs / f"{name}.key")


def test_list(cli, mat, tmp_path):
    certs = tmp_path / "certs"
    assert create(cli, "self", "--cn", "self.example.test", "--type", "ecdsa").rc == 0
    put_pair(mat, certs, "old", "expired.crt", "expired.key")
    put_pair(mat, certs, "soon", "soon.crt", "soon.key")
    put_pair(mat, certs, "wrong", "rsa.crt", "ec.key")
    shutil.copy(os.path.join(mat, "ec.crt"), certs / "half.crt")
    shutil.copy(os.path.join(mat, "ec.key"), certs / ".hidden.key")
    shutil.copy(os.path.join(mat, "ec.crt"), certs / ".hidden.crt")
    (certs / "README").write_text("notes\n")
    r = cli("cert", "list", "--dir", "certs")
    assert r.rc == 0, r
    lines = r.out.splitlines()
    assert lines[0].split() == ["NAME", "SUBJECT", "CN", "KEY", "EXPIRES", "DAYS", "STATUS"]
    rows = {l.split()[0]: l for l in lines[1:]}
    assert sorted(rows) == ["half", "old", "self", "soon", "wrong"]
    assert re.match(r"half +- +- +- +- +incomplete \(no half\.key\)$", rows["half"])
    assert re.match(r"old +expired\.example\.test +ECDSA P-256 +2021-01-01 +-\d+ +expired$",
                    rows["old"])
    assert re.match(r"self +self\.example\.test +ECDSA P-256 +\d{4}-\d\d-\d\d +365 +ok$",
                    rows["self"])
    assert re.match(r"soon .* ECDSA P-256 .* +1?\d +expires within 14 days$", rows["soon"])
    assert re.match(r"wrong +mail\.example\.test +ECDSA P-256 .* key mismatch$", rows["wrong"])
    assert r.err == ""


def test_list_empty_and_missing(cli, tmp_path):
    os.mkdir(tmp_path / "certs")
    r = cli("cert", "list", "--dir", "certs")
    assert r.rc == 0 and r.out == "no certificates in certs\n"
    r = cli("cert", "list", "--dir", "nowhere")
    assert r.rc == 1
    assert r.err == "sealpost: nowhere: No such file or directory\n"


def test_show(cli, tmp_path):
    assert create(cli, "mail", "--cn", "mail.example.test", "--type", "ecdsa",
                  "--san", "DNS:*.example.test", "--org", "Example").rc == 0
    r = cli("cert", "show", "mail", "--dir", "certs", "--host", "x.example.test")
    assert r.rc == 0, r
    fp = subprocess.run(["openssl", "x509", "-in", "certs/mail.crt", "-noout",
                         "-fingerprint", "-sha256"], cwd=tmp_path, capture_output=True,
                        text=True).stdout.strip().split("=")[1]
    out = r.out
    assert "name         mail\n" in out
    assert "files        certs/mail.crt, certs/mail.key\n" in out
    assert "subject      O=Example, CN=mail.example.test\n" in out
    assert "names        DNS:mail.example.test, DNS:*.example.test\n" in out
    assert "issuer       self-signed\n" in out
    assert "key          ECDSA P-256, matches the certificate\n" in out
    assert re.search(r"valid until  \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC \(365 days left\)\n", out)
    assert f"sha256       {fp}\n" in out
    assert "chain        none (self-signed)\n" in out
    assert "check        ok       covers x.example.test (DNS:*.example.test)\n" in out
    r = cli("cert", "show", "nope", "--dir", "certs")
    assert r.rc == 1
    assert r.err == "sealpost: certs/nope.crt: No such file or directory\n"


def check(cli, name, *args):
    return cli("cert", "check", name, "--dir", "certs", *args)


def test_check_host_names(cli, tmp_path):
    assert create(cli, "w", "--cn", "*.example.test", "--type", "ecdsa").rc == 0
    assert check(cli, "w", "--host", "a.example.test").rc == 0
    for host in ("example.test", "a.b.example.test", "a.example.org"):
        r = check(cli, "w", "--host", host)
        assert r.rc == 1, host
        assert r.err == (f"sealpost: certs/w.crt: does not cover host {host} "
                         f"(names: DNS:*.example.test)\n")
        assert r.out.endswith("w: 1 error, 0 warnings\n")
    r = check(cli, "w", "--host", "bad host")
    assert r.rc == 2
    assert r.err.startswith("sealpost: --host 'bad host': expected a host name")


@pytest.mark.parametrize("crt,key,rc,message", [
    ("expired.crt", "expired.key", 1,
     "sealpost: certs/p.crt: certificate expired on 2021-01-01 00:00:00 UTC ("),
    ("future.crt", "future.key", 1,
     "sealpost: certs/p.crt: certificate is not valid before 2099-01-01 00:00:00 UTC"),
    ("soon.crt", "soon.key", 1,
     "sealpost: certs/p.crt: certificate expires on "),
    ("rsa.crt", "ec.key", 1,
     "sealpost: certs/p.key: key does not match certificate certs/p.crt\n"),
    ("client.crt", "other.key", 1,
     "sealpost: certs/p.crt: keyUsage or extendedKeyUsage does not allow a TLS server"),
    ("rsa.bad-order.pem", "rsa.key", 1,
     "sealpost: certs/p.crt: chain out of order: 'O=Sealpost Test, CN=Test Root CA' "
     "follows 'CN=mail.example.test' but did not issue it"),
    ("rsa.gap.pem", "rsa.key", 1,
     "sealpost: certs/p.crt: chain incomplete: the issuer of 'CN=mail.example.test' "
     "is missing (found 'O=Sealpost Test, CN=Test Root CA' instead)"),
    ("ec.sec1.key", "ec.key", 1,
     "sealpost: certs/p.crt: no certificate found (expected PEM certificates, "
     "the leaf first)\n"),
    ("ec.crt", "ec.enc.key", 1,
     "sealpost: certs/p.key: private key is encrypted (expected an unencrypted key "
     "in the certs folder: import it with --passphrase-file)\n"),
])
def test_check_problems(cli, mat, tmp_path, crt, key, rc, message):
    if not os.path.exists(os.path.join(mat, "rsa.bad-order.pem")):
        for name, parts in (("rsa.bad-order.pem", ("rsa.crt", "root.crt", "int.crt")),
                            ("rsa.gap.pem", ("rsa.crt", "root.crt"))):
            with open(os.path.join(mat, name), "wb") as f:
                for p in parts:
                    f.write(open(os.path.join(mat, p), "rb").read())
    put_pair(mat, tmp_path / "certs", "p", crt, key)
    r = check(cli, "p")
    assert r.rc == rc, r
    assert message in r.err, r.err
    for line in r.err.splitlines():
        assert line.startswith("sealpost: "), line


def test_check_incomplete_pair(cli, mat, tmp_path):
    os.makedirs(tmp_path / "certs")
    shutil.copy(os.path.join(mat, "ec.crt"), tmp_path / "certs/half.crt")
    r = check(cli, "half")
    assert r.rc == 1
    assert r.err == "sealpost: certs/half.key: No such file or directory\n"


# ---- the certs folder: config, --dir, recovery ---------------------------

def test_certs_dir_from_config(cli, tmp_path):
    conf = tmp_path / "etc/sealpost.conf"
    os.makedirs(conf.parent)
    conf.write_text("domains = example.test\ncerts_dir = tls\n")
    r = cli("cert", "create", "mail", "--cn", "mail.example.test", "--type", "ecdsa",
            "-c", conf)
    assert r.rc == 0, r
    assert (tmp_path / "etc/tls/mail.key").exists()
    r = cli("cert", "list", "-c", conf)
    assert r.rc == 0 and "mail.example.test" in r.out
    # --dir wins over the config; an explicit -c must exist even then.
    assert cli("cert", "list", "-c", conf, "--dir", "etc/tls").rc == 0
    r = cli("cert", "list", "-c", tmp_path / "none.conf", "--dir", "etc/tls")
    assert r.rc == 1
    assert r.err == f"sealpost: {tmp_path}/none.conf: No such file or directory\n"


def test_certs_dir_without_config_needs_dir(cli, tmp_path):
    r = cli("cert", "list", env={"SEALPOST_CONF": str(tmp_path / "absent.conf")})
    assert r.rc == 1
    assert r.err == f"sealpost: {tmp_path}/absent.conf: No such file or directory\n"


def test_interrupted_write_recovered(cli, mat, tmp_path):
    """A crash between the two renames: the next command finishes the pair."""
    certs = tmp_path / "certs"
    put_pair(mat, certs, "mail", "rsa.crt", "rsa.key")           # the old pair
    shutil.copy(os.path.join(mat, "ec.key"), certs / "mail.key")  # key renamed
    shutil.copy(os.path.join(mat, "ec.crt"), certs / ".mail.crt.new")
    # And a phase-1 crash of another pair: rolled back.
    shutil.copy(os.path.join(mat, "ec.key"), certs / ".other.key.new")
    r = cli("cert", "list", "--dir", "certs")
    assert r.rc == 0, r
    assert sorted(os.listdir(certs)) == ["mail.crt", "mail.key"]
    assert re.search(r"^mail .* ECDSA P-256 .* unknown issuer$", r.out, re.M)
    assert "completing the interrupted write of pair mail" in r.err
    assert "removing the leftovers of an interrupted write of pair other" in r.err


def test_show_expired(cli, mat, tmp_path):
    put_pair(mat, tmp_path / "certs", "old", "expired.crt", "expired.key")
    r = cli("cert", "show", "old", "--dir", "certs")
    assert r.rc == 0, r
    assert re.search(r"valid until  2021-01-01 00:00:00 UTC \(expired \d+ days ago\)\n", r.out)
    assert re.search(r"check        ERROR    certificate expired on 2021-01-01", r.out)
