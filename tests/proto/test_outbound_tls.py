"""The outbound TLS levels against remotes of every kind: each of none,
may, encrypt, dane and verify (per destination, [tls_policy]) sends to a
remote without TLS, one with a self-signed certificate, one with a test-CA
certificate, one whose certificate names another host, one whose TLSA
record does not match its key, one whose TLSA record matches, and one whose
handshake fails (CBC suites only). For every pair: delivered, with which
TLS and authentication (the delivery log line), or deferred, with the
reason, and nothing sent in plaintext when TLS was required."""
import contextlib
import re
import ssl

import pytest

from dnsworld import DnsWorld, Zone
from mailserver import Server
from outbound_world import Remote, Pki, free_port_on, wait_for
from test_outbound import submit

LEVELS = ("none", "may", "encrypt", "dane", "verify")
REMOTES = {            # name: address
    "plain": "127.0.0.31", "self": "127.0.0.32", "ca": "127.0.0.33",
    "wrong": "127.0.0.34", "tlsabad": "127.0.0.35", "dane": "127.0.0.36",
    "old": "127.0.0.37",
}
REQUIRED = "TLS is required, but the server does not offer STARTTLS"
PKIX = "certificate verification failed (PKIX)"
# (remote, level): "none" | "anonymous" | "verified" | "dane" (delivered,
# with that authentication) or ("deferred", a part of the reason)
EXPECTED = {
    ("plain", "none"): "none", ("plain", "may"): "none",
    ("plain", "encrypt"): ("deferred", REQUIRED), ("plain", "dane"): "none",
    ("plain", "verify"): ("deferred", REQUIRED),
    ("self", "none"): "none", ("self", "may"): "anonymous",
    ("self", "encrypt"): "anonymous", ("self", "dane"): "anonymous",
    ("self", "verify"): ("deferred", PKIX + ": self-signed certificate"),
    ("ca", "none"): "none", ("ca", "may"): "anonymous",
    ("ca", "encrypt"): "anonymous", ("ca", "dane"): "anonymous",
    ("ca", "verify"): "verified",
    ("wrong", "none"): "none", ("wrong", "may"): "anonymous",
    ("wrong", "encrypt"): "anonymous", ("wrong", "dane"): "anonymous",
    ("wrong", "verify"): ("deferred", PKIX + ": hostname mismatch"),
    ("tlsabad", "none"): "none", ("tlsabad", "may"): "anonymous",
    ("tlsabad", "encrypt"): "anonymous",
    ("tlsabad", "dane"): ("deferred", "certificate verification failed (DANE): "
                          "no matching DANE TLSA records"),
    ("tlsabad", "verify"): ("deferred", PKIX),
    ("dane", "none"): "none", ("dane", "may"): "anonymous",
    ("dane", "encrypt"): "anonymous", ("dane", "dane"): "dane",
    ("dane", "verify"): ("deferred", PKIX),
    ("old", "none"): "none", ("old", "may"): "none (after a failed handshake)",
    ("old", "encrypt"): ("deferred", "TLS handshake failed"),
    ("old", "dane"): "none (after a failed handshake)",
    ("old", "verify"): ("deferred", "TLS handshake failed"),
}


def domain(remote, level):
    return f"{remote}-{level}.example"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("outtls")
    pki = Pki(root / "pki")
    pki.self_signed("self", "mx-self.example")
    pki.issue("ca", "mx-ca.example")
    pki.issue("wrong", "other.example")
    pki.self_signed("tlsabad", "mx-tlsabad.example")
    pki.self_signed("dane", "mx-dane.example")
    pki.issue("old", "mx-old.example")
    good = pki.spki_sha256("dane")
    bad = "%064x" % (int(pki.spki_sha256("tlsabad"), 16) ^ 1)
    records = [f"mx-{r} A {a}" for r, a in REMOTES.items()]
    records += [f"_25._tcp.mx-dane TLSA 3 1 1 {good}",
                f"_25._tcp.mx-tlsabad TLSA 3 1 1 {bad}"]
    records += [f"{r}-{lv} MX 10 mx-{r}" for r in REMOTES for lv in LEVELS]
    port = free_port_on(list(REMOTES.values()))
    # TLSA records are for the port mail goes to: _<port>._tcp.
    text = "\n".join(records).replace("_25._tcp", f"_{port}._tcp")
    # An old server: CBC suites only, no suite in common with sealpost's
    # forward-secret AEAD list, so every handshake fails.
    old = pki.server_context("old")
    old.maximum_version = ssl.TLSVersion.TLSv1_2
    old.set_ciphers("ECDHE-ECDSA-AES128-SHA")
    policy = "\n".join(f"{domain(r, lv)} = {lv}" for r in REMOTES for lv in LEVELS)
    with contextlib.ExitStack() as stack:      # stopped even if a start fails
        dns = DnsWorld(root / "dns", [Zone("example.", signed=True, records=text)])
        stack.callback(dns.stop)
        remotes = {}
        for r in REMOTES:
            ctx = None if r == "plain" else old if r == "old" else pki.server_context(r)
            remotes[r] = Remote(REMOTES[r], port, tls=ctx)
            stack.callback(remotes[r].stop)
        srv = Server(root / "srv", services=("smtp", "submission"),
                     users=("alice@example.test",),
                     extra=dns.outbound_conf() +
                     f"port = {port}\nca_file = {pki.ca}\nretry_min = 1h\n"
                     f"[tls_policy]\n{policy}\n")
        yield srv, remotes, port
        srv.check_clean_exit()


def test_every_level_against_every_remote(world):
    srv, remotes, port = world
    for remote in REMOTES:
        for level in LEVELS:
            submit(srv, [f"u@{domain(remote, level)}"], f"tls {remote} {level}")
    want_done = len(EXPECTED)
    wait_for(lambda: len(re.findall(r"smtpc delivered|queue: \w+ deferred",
                                    srv.log_text())) >= want_done,
             timeout=60, what="every delivery or deferral")
    log = srv.log_text()
    problems = []
    for (remote, level), want in EXPECTED.items():
        rcpt = f"u@{domain(remote, level)}"
        subject = f"tls {remote} {level}"
        got = remotes[remote].subjects().count(subject)
        line = re.search(rf"smtpc delivered queue_id=\S+ to=<{re.escape(rcpt)}> "
                         rf"relay=mx-{remote}\.example\[{REMOTES[remote]}\]:{port} "
                         r"tls=(\S+) auth=(\w+)", log)
        deferred = re.search(rf"queue: \w+ deferred to=<{re.escape(rcpt)}> "
                             r"reason=\"([^\"]*)\"", log)
        if isinstance(want, tuple):
            if got != 0 or line is not None or deferred is None or \
                    want[1] not in deferred.group(1):
                problems.append(f"{remote}/{level}: want deferred ({want[1]}), got "
                                f"{got} copies, {deferred and deferred.group(1)}")
            continue
        auth = want.split()[0]
        ok = got == 1 and line is not None and line.group(2) == auth and \
            (line.group(1) == "none") == (auth == "none")
        if ok and auth != "none":
            ok = re.match(r"TLSv1\.[23]/\S+/" + auth + "$", line.group(1)) is not None
        if "failed handshake" in want:
            ok = ok and re.search(rf"connecting relay=mx-{remote}\.example\S+ tls=none "
                                  r"\(after a failed handshake at may\)", log) is not None
        if ok:
            msg = [m for m in remotes[remote].messages if subject.encode() in m.content][0]
            ok = msg.tls == (auth != "none")
        if not ok:
            problems.append(f"{remote}/{level}: want delivered ({want}), got {got} "
                            f"copies, {line and line.group(0)}, "
                            f"{deferred and deferred.group(1)}")
    assert problems == [], "\n".join(problems)


def test_deferred_ones_stay_in_the_queue(world):
    srv, remotes, port = world
    from conftest import run_cli
    out = run_cli("queue", "list", "-c", srv.conf).out
    for (remote, level), want in EXPECTED.items():
        rcpt = f"u@{domain(remote, level)}"
        if isinstance(want, tuple):
            assert re.search(rf"deferred +{re.escape(rcpt)} \(attempt 1, next ", out), out
        else:
            assert rcpt not in out
