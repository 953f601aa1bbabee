"""Certificates on a running server: several pairs (RSA beside ECDSA), SNI,
reload (SIGHUP, `sealpost reload`, certs_dir changes) that keeps the old
pair when the new one is bad and never drops a connection, ticket keys the
same on every worker across a rotation, expiry warnings."""
import hashlib
import os
import shutil
import signal
import socket
import ssl
import subprocess
import time

import pytest

from cert_set_util import self_signed
from conftest import run_cli
from mailserver import Server
from pki_material import get_material

NAMES = ["localhost", "mail.example.test"]


def fingerprint(der):
    return hashlib.sha256(der).hexdigest()


def file_fingerprint(path):
    der = subprocess.run(["openssl", "x509", "-in", path, "-outform", "DER"],
                         capture_output=True, check=True).stdout
    return fingerprint(der)


def client_ctx(max_version=None, ciphers=None, tickets=True):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if max_version is not None:
        ctx.maximum_version = max_version
    if ciphers is not None:
        ctx.set_ciphers(ciphers)
    if not tickets:
        ctx.options |= ssl.OP_NO_TICKET
    return ctx


def served(port, sni=None, ctx=None, session=None):
    """(fingerprint of the served leaf, session, resumed) of one handshake."""
    ctx = ctx or client_ctx()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname=sni, session=session) as s:
            s.recv(200)            # the greeting: the handshake is done
            return (fingerprint(s.getpeercert(binary_form=True)), s.session,
                    s.session_reused)


@pytest.fixture
def pairs(tmp_path):
    """An RSA and an ECDSA pair for the same names, and an ECDSA pair for
    mail.example.org served by SNI."""
    certs = tmp_path / "certs"
    self_signed(str(certs), "rsa1", NAMES, kind="rsa")
    self_signed(str(certs), "ec1", NAMES, kind="ec")
    self_signed(str(certs), "org", ["mail.example.org", "*.example.net"], kind="ec")
    return certs


def start(tmp_path, services=("smtp", "smtps", "pop3s", "imaps"), more="", **kw):
    return Server(tmp_path, services=services, certificate="rsa1, ec1",
                  sections="[sni]\nmail.example.org = org\n*.example.net = org\n"
                  + more, users=("alice@example.test",), **kw)


def test_rsa_and_ecdsa_each_to_its_client(tmp_path, pairs):
    srv = start(tmp_path)
    port = srv.ports["smtps"]
    rsa = file_fingerprint(str(pairs / "rsa1.crt"))
    ec = file_fingerprint(str(pairs / "ec1.crt"))
    # TLS 1.2 suites choose the key type; TLS 1.3 goes by signature
    # algorithms, and prefers ECDSA.
    assert served(port, ctx=client_ctx(ssl.TLSVersion.TLSv1_2,
                                       "ECDHE-RSA-AES128-GCM-SHA256"))[0] == rsa
    assert served(port, ctx=client_ctx(ssl.TLSVersion.TLSv1_2,
                                       "ECDHE-ECDSA-AES128-GCM-SHA256"))[0] == ec
    assert served(port)[0] == ec
    # openssl s_client with only RSA signature algorithms gets the RSA pair.
    r = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}",
                        "-sigalgs", "rsa_pss_rsae_sha256:rsa_pkcs1_sha256",
                        "-brief"], input="", capture_output=True, text=True,
                       timeout=30)
    assert "Signature type: RSA-PSS" in r.stderr, r.stderr
    srv.check_clean_exit()


def test_sni_names_get_their_pair(tmp_path, pairs):
    srv = start(tmp_path)
    org = file_fingerprint(str(pairs / "org.crt"))
    ec = file_fingerprint(str(pairs / "ec1.crt"))
    for svc in ("smtps", "pop3s", "imaps"):
        port = srv.ports[svc]
        assert served(port, sni="mail.example.org")[0] == org
        assert served(port, sni="MAIL.Example.ORG")[0] == org
        assert served(port, sni="a.example.net")[0] == org     # wildcard
        assert served(port, sni="a.b.example.net")[0] == ec    # one label only
        assert served(port, sni="unknown.example.com")[0] == ec
        assert served(port)[0] == ec                           # no SNI
    # STARTTLS too
    r = subprocess.run(["openssl", "s_client", "-connect",
                        f"127.0.0.1:{srv.ports['smtp']}", "-starttls", "smtp",
                        "-servername", "mail.example.org"], input="",
                       capture_output=True, text=True, timeout=30)
    assert "CN = mail.example.org" in r.stdout, r.stdout
    srv.check_clean_exit()


def open_sessions(srv, n):
    """n implicit-TLS sessions over SMTP, POP3 and IMAP, greeting read."""
    out = []
    for i in range(n):
        svc = ("smtps", "pop3s", "imaps")[i % 3]
        raw = socket.create_connection(("127.0.0.1", srv.ports[svc]), timeout=10)
        s = client_ctx().wrap_socket(raw)
        greeting = b""
        while not greeting.endswith(b"\r\n"):     # IMAP's lists capabilities
            greeting += s.recv(1024)
        out.append((svc, s))
    return out


def still_working(sessions):
    for svc, s in sessions:
        cmd = {"smtps": b"NOOP\r\n", "pop3s": b"CAPA\r\n", "imaps": b"a NOOP\r\n"}[svc]
        s.sendall(cmd)
        reply = s.recv(300)
        assert reply.startswith({"smtps": b"250", "pop3s": b"+OK",
                                 "imaps": b"a OK"}[svc]), (svc, reply)
        s.close()


def wait_served(port, want, timeout, tries=8):
    """Seconds until `tries` handshakes in a row (both workers) serve want."""
    t0 = time.time()
    while time.time() - t0 < timeout:
        if all(served(port)[0] == want for _ in range(tries)):
            return time.time() - t0
        time.sleep(0.1)
    raise AssertionError(f"not served within {timeout} s")


def replace_pair(certs, name, kind="ec", names=NAMES):
    """A new pair written over certs/NAME.* the way a renewal tool does:
    key then certificate, each renamed into place."""
    tmp = str(certs) + ".new"
    os.makedirs(tmp, exist_ok=True)
    self_signed(tmp, name, names, kind=kind)
    for ext in ("key", "crt"):
        os.rename(os.path.join(tmp, f"{name}.{ext}"), os.path.join(certs, f"{name}.{ext}"))
    shutil.rmtree(tmp)
    return file_fingerprint(os.path.join(certs, f"{name}.crt"))


def test_renewed_pair_picked_up_without_dropping_sessions(tmp_path, pairs):
    srv = start(tmp_path, limits="max_connections_per_ip = 200")
    sessions = open_sessions(srv, 51)
    new = replace_pair(pairs, "ec1")
    took = wait_served(srv.ports["smtps"], new, timeout=10)
    assert took < 4, took      # settle 1 s + load; 2 s on a quiet machine
    log = srv.wait_log("certificates reloaded")
    # every worker took the new set
    assert log.count("certificates in service") >= 4, log[-3000:]
    still_working(sessions)
    srv.check_clean_exit()


@pytest.mark.parametrize("breakage", ["mismatched key", "expired", "truncated",
                                      "readable by others", "not a key"])
def test_broken_replacement_keeps_the_old_pair(tmp_path, pairs, breakage,
                                               tmp_path_factory):
    mat = get_material(tmp_path_factory)
    srv = start(tmp_path)
    old = file_fingerprint(str(pairs / "ec1.crt"))
    key, crt = pairs / "ec1.key", pairs / "ec1.crt"
    if breakage == "mismatched key":
        other = tmp_path / "other"
        self_signed(str(other), "x", NAMES, kind="ec")
        shutil.copy(other / "x.key", key)
        expect = "key does not match"
    elif breakage == "expired":
        shutil.copy(os.path.join(mat, "expired.key"), key)
        shutil.copy(os.path.join(mat, "expired.crt"), crt)
        os.chmod(key, 0o600)
        expect = "expired"
    elif breakage == "truncated":
        data = crt.read_bytes()
        crt.write_bytes(data[: len(data) // 2])
        expect = str(crt)
    elif breakage == "readable by others":
        os.chmod(key, 0o644)
        expect = "readable by others"
    else:
        key.write_text("-----BEGIN PRIVATE KEY-----\nnot base64 at all\n")
        expect = str(key)
    log = srv.wait_log("certificates reloaded", timeout=15)
    refusal = [l for l in log.splitlines() if "error: certificate" in l]
    assert refusal and expect in refusal[-1], log[-3000:]
    for _ in range(6):
        assert served(srv.ports["smtps"])[0] == old
    srv.check_clean_exit()


def test_key_then_certificate_written_slowly(tmp_path, pairs):
    """A renewal that writes the new key, then two seconds later its
    certificate: the half-written state is refused (old pair served), the
    whole new pair is taken."""
    srv = start(tmp_path)
    old = file_fingerprint(str(pairs / "ec1.crt"))
    tmp = tmp_path / "renew"
    self_signed(str(tmp), "ec1", NAMES, kind="ec")
    new = file_fingerprint(str(tmp / "ec1.crt"))
    shutil.copy(tmp / "ec1.key", pairs / "ec1.key")
    srv.wait_log("key does not match", timeout=15)
    assert served(srv.ports["smtps"])[0] == old
    time.sleep(2)
    shutil.copy(tmp / "ec1.crt", pairs / "ec1.crt")
    wait_served(srv.ports["smtps"], new, timeout=10)
    srv.check_clean_exit()


def test_reload_command_and_sighup(tmp_path, pairs):
    srv = start(tmp_path, services=("smtp", "smtps"))
    # A reload with nothing changed succeeds.
    r = run_cli("reload", "-c", srv.conf)
    assert r.rc == 0, r
    assert "config" in r.out and "reloaded" in r.out
    # A config error: exit 1, the line named, the server unchanged.
    conf = open(srv.conf).read()
    with open(srv.conf, "w") as f:
        f.write(conf + "\n[limits]\nbogus_key = 1\n")
    r = run_cli("reload", "-c", srv.conf)
    assert r.rc == 1 and "bogus_key" in r.err and "sealpost.conf:" in r.err, r
    # What needs a restart is said, and the rest applies: a new SNI name.
    smtp = f"smtp = 127.0.0.1:{srv.ports['smtp']}\n"
    with open(srv.conf, "w") as f:
        f.write(conf.replace(smtp, f"smtp = 127.0.0.1:{srv.ports['smtp'] + 1}\n")
                .replace("*.example.net = org",
                         "*.example.net = org\nnew.example.com = org")
                + "\n[outbound]\nresolver = 127.0.0.9:53\n")
    r = run_cli("reload", "-c", srv.conf)
    assert r.rc == 0 and "[listen], [outbound] resolver changed: restart sealpost" \
        in r.err, r
    org = file_fingerprint(str(pairs / "org.crt"))
    time.sleep(0.5)   # the workers take the set after the answer
    assert all(served(srv.ports["smtps"], sni="new.example.com")[0] == org
               for _ in range(6))
    # SIGHUP does the same.
    srv.proc.send_signal(signal.SIGHUP)
    srv.wait_log("reload requested signal=HUP")
    srv.check_clean_exit()


def test_reload_without_server(tmp_path, cli):
    (tmp_path / "data").mkdir()
    conf = tmp_path / "s.conf"
    conf.write_text("hostname = a.example.test\ndomains = example.test\n")
    r = run_cli("reload", "-c", conf)
    assert r.rc == 1 and "no running server" in r.err and \
        "sealpost.control" in r.err, r


def test_tickets_resume_across_workers_and_rotation(tmp_path, pairs):
    """Tickets made by one worker resume in the other; after a rotation the
    previous key still resumes; after two, a full handshake."""
    srv = start(tmp_path, services=("smtps",), more="[tls]\nticket_rotation = 3\n")
    port = srv.ports["smtps"]
    ctx = client_ctx(ssl.TLSVersion.TLSv1_2)
    _, sess, _ = served(port, ctx=ctx)
    resumed = [served(port, ctx=ctx, session=sess)[2] for _ in range(8)]
    assert all(resumed), resumed
    srv.wait_log("session ticket keys rotated", timeout=10)
    assert served(port, ctx=ctx, session=sess)[2]
    log = srv.log_text()
    n = log.count("session ticket keys rotated")
    deadline = time.time() + 15
    while srv.log_text().count("session ticket keys rotated") < n + 1:
        assert time.time() < deadline
        time.sleep(0.2)
    assert not served(port, ctx=ctx, session=sess)[2]
    srv.check_clean_exit()


def test_expiry_warned_at_start(tmp_path):
    certs = tmp_path / "certs"
    self_signed(str(certs), "rsa1", NAMES, kind="rsa", days=6)
    self_signed(str(certs), "ec1", NAMES, kind="ec")
    self_signed(str(certs), "org", ["mail.example.org", "*.example.net"], kind="ec")
    srv = start(tmp_path, services=("smtps",))
    log = srv.wait_log("rsa1.crt")
    line = [l for l in log.splitlines() if "rsa1.crt" in l and "days left" in l]
    assert line and "warning" in line[0], log[-2000:]
    srv.check_clean_exit()


def test_tls_check_live_server(tmp_path, pairs):
    srv = start(tmp_path, services=("smtp", "submission", "smtps", "pop3",
                                    "pop3s", "imap", "imaps"))
    r = run_cli("tls", "check", "-c", srv.conf)
    assert r.rc == 0, r
    lines = [l for l in r.out.splitlines() if " ok (" in l]
    # 7 ports x (rsa + ecdsa default, ecdsa for 2 SNI names)
    assert len(lines) == 7 * 4, r.out
    assert any(l.startswith("imap ") and "sni=mail.example.org" in l and
               "pair=org" in l for l in lines), r.out
    assert any(l.startswith("smtp ") and " rsa " in l and "pair=rsa1" in l
               for l in lines), r.out
    assert r.out.rstrip().endswith("tls check: ok")

    # A certs_dir whose pair is not the one served (a stale server, or the
    # wrong folder): caught, exit 1.
    other = tmp_path / "other-certs"
    shutil.copytree(pairs, other)
    os.chmod(other / "ec1.key", 0o600)
    self_signed(str(other), "ec1", NAMES, kind="ec")
    conf = open(srv.conf).read().replace("certs_dir = certs", f"certs_dir = {other}")
    conf2 = tmp_path / "stale.conf"
    conf2.write_text(conf)
    r = run_cli("tls", "check", "-c", conf2)
    assert r.rc == 1 and "MISMATCH" in r.out and "stale" in r.err, r

    # A broken pair in certs_dir waiting for the next restart: caught.
    shutil.copy(pairs / "rsa1.key", other / "ec1.key")
    r = run_cli("tls", "check", "-c", conf2)
    assert r.rc == 1 and "key does not match" in r.err, r
    srv.check_clean_exit()


def test_tls_check_nothing_listening(tmp_path, pairs):
    srv = start(tmp_path, services=("smtps",))
    port = srv.ports["smtps"]
    srv.check_clean_exit()
    r = run_cli("tls", "check", "-c", srv.conf)
    assert r.rc == 1 and f"127.0.0.1:{port}: connect" in r.err, r


def test_reload_command_reports_a_refused_pair(tmp_path, pairs):
    """A renewal hook running `sealpost reload` hears of a refused pair
    (exit 1, the file and reason on stderr); the old pair keeps serving;
    a [tls] change in the same config still applies."""
    srv = start(tmp_path, services=("smtps",))
    old = file_fingerprint(str(pairs / "ec1.crt"))
    other = tmp_path / "other"
    self_signed(str(other), "x", NAMES, kind="ec")
    shutil.copy(other / "x.key", pairs / "ec1.key")
    with open(srv.conf, "a") as f:
        f.write("[tls]\nmin_version = TLSv1.3\n")
    r = run_cli("reload", "-c", srv.conf)
    assert r.rc == 1 and "ec1.key: key does not match" in r.err, r
    assert served(srv.ports["smtps"])[0] == old
    time.sleep(0.5)
    with pytest.raises(ssl.SSLError):
        served(srv.ports["smtps"], ctx=client_ctx(ssl.TLSVersion.TLSv1_2))
    srv.check_clean_exit()
