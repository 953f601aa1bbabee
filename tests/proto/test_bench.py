"""The SMTP load generator (bench/smtp_load.py) keeps working: short runs
against real servers that must report figures and lose no mail. This is a
check of the tool, not a measurement (make bench measures)."""
import json
import os
import subprocess
import sys

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
