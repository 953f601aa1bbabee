"""The benchmark keeps working: short runs of the SMTP load generator
(bench/smtp_load.py) against real servers that must report figures and
lose no mail, of the peers mode (sealpost beside Postfix and Dovecot) with
every row and every check, and of the C load generator's checks. This is a
check of the tools, not a measurement (make bench measures)."""
import json
import re
import os
import subprocess
import sys

import pytest

from conftest import BIN, ROOT
from mailserver import PASSWORD

BENCH = os.path.join(ROOT, "bench")
sys.path.insert(0, BENCH)
import smtp_load                                      # noqa: E402

SCRIPT = os.path.join(BENCH, "smtp_load.py")


def run_bench(*args, timeout=180):
    r = subprocess.run([sys.executable, SCRIPT, "--binary", BIN, "--json", *args],
                       capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return json.loads(r.stdout)


def assert_clean_load(out):
    assert out["kind"] == "load"
    assert out["errors"] == {} and out["refused"] == {}
    assert out["acked"] > 0
    assert out["messages_per_s"] > 0
    lat = out["latency"]
    assert 0 < lat["p50_ms"] <= lat["p99_ms"] <= lat["max_ms"]
    assert lat["n"] == out["acked"]
    d = out["delivery"]
    assert d["checked"] and d["ok"], d
    assert d["delivered"] == d["acked"] == out["acked"]
    assert d["lost"] == d["duplicated"] == d["unexpected"] == 0


def test_starttls_sessions_reused_two_seconds():
    out = run_bench("-n", "2", "-d", "2")
    assert_clean_load(out)
    assert out["mode"] == "starttls" and out["open_sessions"] == 2
    assert 1.9 < out["wall_s"] < 30
    # Two sessions, each set up once before the run, none during it.
    assert out["setup_handshake_latency"]["n"] == 2
    assert out["handshakes"] == 0
    rss = out["server_rss_kib"]
    assert rss["before"]["VmRSS"] > 0 and rss["before"]["processes"] == 5   # master, key holder, 2 workers, queue
    assert out["server_cpu_s"] > 0 and all(c > 0 for c in out["client_cpu_s"])
    assert out["server_exit"] == 0 and out["server_problems"] == []


def test_implicit_tls_reconnect_exact_count():
    out = run_bench("-n", "2", "--mode", "implicit", "--reconnect", "--resume",
                    "-c", "6")
    assert_clean_load(out)
    assert out["acked"] == 6
    # One TLS handshake (and one AUTH) per message; each session's first
    # handshake is a full one, the others resume it.
    assert out["handshakes"] == 6 and out["handshakes_per_s"] > 0
    assert out["resumed"] == 4
    assert out["setup_latency"]["n"] == 6
    assert out["server_exit"] == 0 and out["server_problems"] == []


def test_idle_connections_memory_figure():
    out = run_bench("--idle", "20", "--settle", "0.3")
    (run,) = out["runs"]
    assert run["n"] == 20 and run["open"] == 20 and run["errors"] == {}
    rd = run["rounds"][0]
    assert rd["rss_open_kib"]["VmRSS"] > 0
    assert rd["server_cpu_ms_per_conn"] > 0
    assert isinstance(run["per_conn_kib"], float)
    assert run["goal_kib"] == 64
    assert run["server_exit"] == 0


def test_connect_to_a_running_server(smtp_server, tmp_path):
    pw = tmp_path / "pw"
    pw.write_text(PASSWORD + "\n")
    out = run_bench("--connect", "127.0.0.1",
                    "--smtp-port", str(smtp_server.ports["smtp"]),
                    "--smtps-port", str(smtp_server.ports["smtps"]),
                    "--cafile", os.path.join(smtp_server.certs, "mail.crt"),
                    "--rcpt", "alice@example.test", "--user", "bob@example.test",
                    "--password-file", str(pw), "--mode", "implicit",
                    "--maildir", smtp_server.maildir("alice@example.test"),
                    "--server-pid", str(smtp_server.proc.pid),
                    "-n", "2", "-c", "5")
    assert_clean_load(out)
    assert out["acked"] == 5
    assert out["server_rss_kib"]["before"]["processes"] == 5   # master + key holder + 2 workers + queue
    # The message was written as the authenticated user.
    msgs = smtp_server.messages("alice@example.test")
    assert len(msgs) >= 5 and b"From: <bob@example.test>" in msgs[-1]


def test_fsync_probe():
    r = subprocess.run([sys.executable, SCRIPT, "--fsync-probe", "-d", "0.3",
                        "--json"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    one, eight = json.loads(r.stdout)
    assert (one["threads"], eight["threads"]) == (1, 8)
    for f in (one, eight):
        assert f["commits_per_s"] > 0 and 0 < f["p50_ms"] <= f["p99_ms"]


def test_delivery_check_catches_lost_and_duplicated_mail(tmp_path):
    new = tmp_path / "new"
    new.mkdir()
    (tmp_path / "cur").mkdir()
    for i, msgid in enumerate(["run1.0.0.1@b", "run1.0.0.2@b", "run1.0.0.2@b",
                               "other.0.0.9@b"]):
        (new / f"m{i}").write_bytes(b"Return-Path: <x@y>\r\nMessage-ID: <"
                                    + msgid.encode() + b">\r\n\r\nbody\r\n")
    ok = smtp_load.verify_delivery(str(tmp_path), "run1",
                                   ["run1.0.0.1@b"], ["run1.0.0.2@b"])
    assert not ok["ok"] and ok["duplicated"] == 1 and ok["lost"] == 0
    lost = smtp_load.verify_delivery(str(tmp_path), "run1",
                                     ["run1.0.0.1@b", "run1.0.0.3@b"],
                                     ["run1.0.0.2@b"])
    assert lost["lost"] == 1 and lost["examples"][0] == "run1.0.0.3@b"
    # The other run's message is not counted.
    assert lost["delivered"] == 3
    (new / "m2").unlink()
    good = smtp_load.verify_delivery(str(tmp_path), "run1",
                                     ["run1.0.0.1@b"], ["run1.0.0.2@b"])
    assert good["ok"] and good["unknown_delivered"] == 1
    strict = smtp_load.verify_delivery(str(tmp_path), "run1", ["run1.0.0.1@b"], [])
    assert not strict["ok"] and strict["unexpected"] == 1


# ---- the peers mode: sealpost beside Postfix and Dovecot (bench/peers.py) ----

LOADGEN = os.path.join(ROOT, "build/bench/loadgen")
PEER_LOADS = ("smtp1", "smtp20", "tls_full", "tls_resume", "imap_sha512",
              "imap_yescrypt")
PEER_TITLES = ("SMTP STARTTLS, 1 msg per connection",
               "SMTP STARTTLS, 20 msgs per connection",
               "full TLS handshakes (IMAPS)", "resumed TLS handshakes (IMAPS)",
               "IMAPS LOGIN+SELECT+FETCH+LOGOUT, SHA512-CRYPT",
               "IMAPS LOGIN+SELECT+FETCH+LOGOUT, yescrypt",
               "idle TLS connection before login",
               "idle TLS connection logged in and SELECTed")


@pytest.fixture(scope="module")
def loadgen():
    """The C load generator (make bench builds it; so does this)."""
    r = subprocess.run(["make", "-s", "build/bench/loadgen"], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    return LOADGEN


def test_peers_every_load_beside_postfix_and_dovecot(loadgen, tmp_path):
    if os.geteuid() != 0:
        pytest.skip("postfix(1) starts only as root")
    out_json = tmp_path / "peers.json"
    r = subprocess.run([sys.executable, SCRIPT, "--peers", "--binary", BIN,
                        "--loadgen", loadgen, "-d", "0.2", "--repeat", "1",
                        "--warmup", "0", "--quiet-wait", "0", "--idle-conns", "8",
                        "--settle", "0.1", "--json-out", str(out_json)],
                       capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    text = r.stdout
    # Every row of the table, the sign time, and the verdict.
    for title in PEER_TITLES:
        assert title in text, title
    assert "openssl speed -seconds 1 rsa2048: sign " in text
    assert "verdict: every check passed" in text
    out = json.loads(out_json.read_text())
    assert out["ok"] is True
    assert len(out["sign_ms"]) == 2 and all(0 < x < 100 for x in out["sign_ms"])
    assert out["versions"]["postfix"].startswith("Postfix 3.")
    assert out["versions"]["dovecot"].startswith("Dovecot 2.")
    rows = {row["load"]["key"]: row for row in out["loads"]}
    assert tuple(rows) == PEER_LOADS
    for key, row in rows.items():
        assert set(row["runs"]) == {row["peer"], "sealpost"}
        for runs in row["runs"].values():
            (run,) = runs
            assert run["ok"] and run["errors"] == {}, (key, run)
            assert run["ops"] > 0 and run["ops_per_s"] > 0
            assert run["server_cpu_ms_per_op"] > 0
            if key.startswith("smtp"):
                d = run["delivery"]
                assert d["ok"] and d["lost"] == d["duplicated"] == 0
                assert d["delivered"] == d["acked"] == run["ops"]
    assert rows["smtp1"]["peer"] == "postfix" and rows["tls_full"]["peer"] == "dovecot"
    # sealpost resumes every session it issued a ticket for.
    resumed = rows["tls_resume"]["runs"]["sealpost"][0]
    assert resumed["resumed"] >= resumed["handshakes"] - 10 > 0
    assert rows["tls_full"]["runs"]["sealpost"][0]["resumed"] == 0
    idle = out["idle"]["runs"]
    for name in ("dovecot", "sealpost"):
        (run,) = idle[name]
        assert run["ok"] and run["opened"] == run["logged_in"] == 8, run
        assert all(p > 0 for p in run["pss_kib"])
    # Nothing of the three servers is left running.
    assert all(rc == 0 for rc in out["stop"].values()), out["stop"]


def loadgen_run(loadgen, *args, timeout=60):
    r = subprocess.run([loadgen, *args], capture_output=True, text=True,
                       timeout=timeout)
    return r.returncode, json.loads(r.stdout.splitlines()[-1])


def test_loadgen_counts_wrong_bytes_and_refusals_as_errors(loadgen, make_server,
                                                           tmp_path):
    """A broken server cannot look fast: a FETCH with other bytes, a
    mailbox with another message count and a refused recipient are errors,
    and the run exits 1."""
    srv = make_server(services=("smtp", "imaps"),
                      limits="max_connections_per_ip = 1000")
    body = b"From: <a@example.test>\nSubject: bench\n\nline one\nline two\n"
    new = os.path.join(srv.data, "mail", "example.test", "alice", "new")
    with open(os.path.join(new, "1796000000.M1P1.bench"), "wb") as f:
        f.write(body)
    right = tmp_path / "right"
    right.write_bytes(body.replace(b"\n", b"\r\n"))
    wrong = tmp_path / "wrong"
    wrong.write_bytes(body.replace(b"\n", b"\r\n").replace(b"two", b"2wo"))
    pw = tmp_path / "pw"
    pw.write_text(PASSWORD + "\n")
    common = ["imap", "--port", str(srv.ports["imaps"]), "--cafile",
              os.path.join(srv.certs, "mail.crt"), "--conns", "2", "--count", "4",
              "--user", "alice@example.test", "--password-file", str(pw)]
    rc, ok = loadgen_run(loadgen, *common, "--expect", str(right))
    assert rc == 0 and ok["ops"] == 4 and ok["error_count"] == 0, ok
    rc, bad = loadgen_run(loadgen, *common, "--expect", str(wrong))
    assert rc == 1 and bad["ops"] == 0
    assert bad["errors"]["imap FETCH wrong bytes"]["count"] == 4
    rc, two = loadgen_run(loadgen, *common, "--expect", str(right),
                          "--expect", str(right))
    assert rc == 1 and "EXISTS 1, expected 2" in two["errors"]["imap SELECT"]["example"]
    ids = tmp_path / "ids"
    rc, refused = loadgen_run(loadgen, "smtp", "--port", str(srv.ports["smtp"]),
                              "--cafile", os.path.join(srv.certs, "mail.crt"),
                              "--conns", "1", "--count", "2",
                              "--rcpt", "nobody@example.test",
                              "--from", "a@example.test", "--run-id", "r1",
                              "--ids", str(ids))
    assert rc == 1 and refused["acked"] == 0
    assert "smtp RCPT" in refused["errors"]
    rc, sent = loadgen_run(loadgen, "smtp", "--port", str(srv.ports["smtp"]),
                           "--cafile", os.path.join(srv.certs, "mail.crt"),
                           "--conns", "2", "--count", "5", "--per-conn", "2",
                           "--rcpt", "alice@example.test",
                           "--from", "a@example.test", "--run-id", "r2",
                           "--ids", str(ids))
    assert rc == 0 and sent["acked"] == 5 and sent["handshakes"] == 3
    acked = [ln.split()[1] for ln in ids.read_text().splitlines()]
    assert len(acked) == 5 and len(set(acked)) == 5
    d = smtp_load.verify_delivery(srv.maildir("alice@example.test"), "r2", acked, [])
    assert d["ok"] and d["delivered"] == 5


def test_smtp_ab_two_builds_aged_and_syscalls(loadgen):
    """bench/smtp_ab.py: figures for each build in each round (aged
    Maildirs), and system calls per message from strace. The release build
    (make test builds it): the tool is under test here, and it starts five
    servers."""
    rel = os.path.join(ROOT, "build/sealpost")
    ab = [sys.executable, os.path.join(BENCH, "smtp_ab.py"), "--loadgen", loadgen,
          "--binary", rel, "--conns", "2", "--threads", "1", "--no-sign-time"]
    r = subprocess.run([*ab, "--binary", rel, "--repeat", "1", "-d", "1", "--aged",
                        "--probe", "0.3"],
                       capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    rounds = re.findall(r"^round (\d)  ([AB]) (\S+): ([\d,]+) msg/s, ([\d.]+) ms CPU/msg"
                        r" \(([\d.]+) in the kernel\)", r.stdout, re.M)
    assert [x[:2] for x in rounds] == [("1", "A"), ("1", "B")], r.stdout
    assert all(x[2] == rel and float(x[4]) >= float(x[5]) > 0 for x in rounds), r.stdout
    probe = re.search(r"^one durable file without a server, after the rounds .*: "
                      r"([\d.]+) ms CPU$", r.stdout, re.M)
    assert probe and float(probe.group(1)) > 0, r.stdout
    assert r.stdout.count(f" `{rel}` | ") == 2, r.stdout
    # --fresh-fs: a loop device and mount (root, as in CI); elsewhere the
    # tool must say so in one line.
    r = subprocess.run([*ab, "--repeat", "1", "-d", "1", "--probe", "0",
                        "--fresh-fs", "ext4-nojournal"],
                       capture_output=True, text=True, timeout=300, cwd=ROOT)
    if os.geteuid() == 0 and os.path.exists("/dev/loop-control"):
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
        assert re.search(r"^round 1  A .* ms CPU/msg", r.stdout, re.M), r.stdout
        assert "sealpost-ab-" not in subprocess.run(["mount"], capture_output=True,
                                            text=True).stdout
    else:
        assert r.returncode == 1 and r.stderr.startswith(
            "smtp_ab: --fresh-fs ext4-nojournal: "), r.stderr
    r = subprocess.run([*ab, "--syscalls", "--count", "40"],
                       capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "A " + rel + ": system calls per message (40 messages, 1 worker)" in r.stdout
    fsyncs = [float(v) for v in re.findall(r"^  fsync\s+([\d.]+)$", r.stdout, re.M)]
    assert len(fsyncs) == 1 and fsyncs[0] >= 1, r.stdout


def test_tls_floor_full_and_resumed_with_the_primitives_split_out():
    """bench/tls_floor.c (OpenSSL alone, printed by bench/handshakes.py):
    a full handshake resumes nothing and costs at least its signature and
    key exchange; a resumed one resumes every time and signs nothing."""
    import argparse
    import handshakes
    r = subprocess.run(["make", "-s", "build/bench/tls_floor"], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    args = argparse.Namespace(tls_floor=os.path.join(ROOT, "build/bench/tls_floor"),
                              floor_n=30)
    full, resumed = handshakes.floor_rows(args, "ecdsa")
    assert (full["handshake"], resumed["handshake"]) == ("full", "resumed")
    assert full["n"] == resumed["n"] == 30
    assert full["resumed"] == 0 and resumed["resumed"] == 1
    assert full["sign_ms"] > 0 and full["x25519_ms"] > 0
    assert full["server_cpu_ms"] > full["sign_ms"] + full["x25519_ms"]
    assert abs(full["around_ms"] - (full["server_cpu_ms"] - full["sign_ms"]
                                    - full["x25519_ms"])) < 0.001
    assert abs(resumed["around_ms"] - (resumed["server_cpu_ms"]
                                       - resumed["x25519_ms"])) < 0.001
    bad = subprocess.run([args.tls_floor, "dsa", "30"], capture_output=True,
                         text=True, timeout=60)
    assert bad.returncode == 2 and "usage: tls_floor" in bad.stderr
