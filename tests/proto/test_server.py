"""serve: start-up errors, privileges, logs."""
import os
import re
import shutil
import smtplib
import subprocess

import pytest

from conftest import run_cli
from mailserver import Server, free_port, make_cert


def write_conf(tmp_path, listen, extra=""):
    make_cert(str(tmp_path / "certs"))
    conf = tmp_path / "s.conf"
    conf.write_text(f"hostname = mx.example.test\ndomains = example.test\n{extra}\n"
                    f"[listen]\n{listen}\n")
    return conf


def test_missing_certificate_stops_startup(tmp_path):
    conf = write_conf(tmp_path, f"smtp = 127.0.0.1:{free_port()}",
                      extra="certificate = nosuch")
    r = run_cli("serve", "-c", conf, timeout=30)
    assert r.rc == 1
    lines = [l for l in r.err.splitlines() if l.startswith("sealpost: ")]
    assert lines == [f"sealpost: {tmp_path}/certs/nosuch.crt: No such file or directory"]


def test_mismatched_pair_stops_startup(tmp_path):
    conf = write_conf(tmp_path, f"smtp = 127.0.0.1:{free_port()}")
    subprocess.run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-out", str(tmp_path / "certs/mail.key")],
                   check=True, capture_output=True)
    r = run_cli("serve", "-c", conf, timeout=30)
    assert r.rc == 1
    assert "mail.key: key does not match certificate" in r.err


def test_port_in_use_names_the_listener(tmp_path):
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    port = s.getsockname()[1]
    conf = write_conf(tmp_path, f"smtp = 127.0.0.1:{port}")
    r = run_cli("serve", "-c", conf, timeout=30)
    s.close()
    assert r.rc == 1
    assert f"sealpost: listen smtp 127.0.0.1:{port}: Address already in use" in r.err


def test_nothing_to_serve(tmp_path):
    conf = write_conf(tmp_path, "")
    r = run_cli("serve", "-c", conf, timeout=30)
    assert r.rc == 1
    assert "no service is listed" in r.err


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop privileges")
def test_drops_privileges_to_user():
    import pwd
    import tempfile
    pw = pwd.getpwnam("sealpost")
    # pytest's tmp folders are 0700 root: the unprivileged server could not
    # reach its data there.
    root = tempfile.mkdtemp(prefix="sealpost-privs-")
    os.chmod(root, 0o755)
    try:
        _drop_privileges(Server(root, extra="user = sealpost"), pw)
    finally:
        shutil.rmtree(root)


def children(srv):
    """{pid: comm} of the server's child processes."""
    pids = subprocess.run(["pgrep", "-P", str(srv.proc.pid)], capture_output=True,
                          text=True).stdout.split()
    out = {}
    for pid in pids:
        with open(f"/proc/{pid}/comm") as f:
            out[pid] = f.read().strip()
    return out


def uids_of(pid):
    with open(f"/proc/{pid}/status") as f:
        return set([l for l in f if l.startswith("Uid:")][0].split()[1:])


def _drop_privileges(srv, pw):
    """Every process that talks to the network (the workers, the queue
    process) runs as `user`; the master and the key holder keep root, to
    read renewed keys."""
    kids = children(srv)
    workers = [p for p, c in kids.items() if c == "sealpost-worker"]
    keyd = [p for p, c in kids.items() if c == "sealpost-keyd"]
    queue = [p for p, c in kids.items() if c == "sealpost-queue"]
    assert len(workers) == 2 and len(keyd) == 1 and len(queue) == 1, kids
    for pid in workers + queue:
        assert uids_of(pid) == {str(pw.pw_uid)}, (pid, uids_of(pid))
    assert uids_of(keyd[0]) == {"0"}
    assert uids_of(str(srv.proc.pid)) == {"0"}
    assert srv.log_text().count("privileges dropped user=sealpost") == 3
    with smtplib.SMTP("127.0.0.1", srv.ports["smtp"], timeout=10) as s:
        s.starttls(context=srv.client_context())
        s.sendmail("x@remote.test", ["alice@example.test"], b"Subject: p\r\n\r\nx\r\n")
    msgs = os.listdir(os.path.join(srv.maildir("alice@example.test"), "new"))
    assert len(msgs) == 1
    st = os.stat(os.path.join(srv.maildir("alice@example.test"), "new", msgs[0]))
    assert st.st_uid == pw.pw_uid
    srv.check_clean_exit()


def memory_holds(pid, needles):
    """Which of needles (bytes) occur in the memory of process pid."""
    found = set()
    with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", 0) as mem:
        for line in maps:
            addr, perms = line.split()[:2]
            if not perms.startswith("r"):
                continue
            start, end = (int(x, 16) for x in addr.split("-"))
            if end - start > 1 << 30:
                continue      # ASan's shadow and reserved ranges, no data
            step = 1 << 20
            for off in range(start, end, step):
                try:
                    mem.seek(off)
                    # overlap by 31 bytes: a needle may straddle two reads
                    chunk = mem.read(min(step + 31, end - off))
                except (OSError, ValueError, OverflowError):
                    continue
                for n in needles:
                    if n in chunk:
                        found.add(n)
    return found


def test_private_key_only_in_the_key_holder(make_server):
    """The private key never sits in a worker's memory (Heartbleed class):
    its secret exponent is in the key holder's memory and in no worker's,
    while TLS handshakes keep working."""
    srv = make_server(services=("smtp", "smtps"))
    with smtplib.SMTP_SSL("127.0.0.1", srv.ports["smtps"], timeout=10,
                          context=srv.client_context()) as s:
        s.ehlo()
    key = subprocess.run(["openssl", "rsa", "-in", os.path.join(srv.certs, "mail.key"),
                          "-noout", "-text"], capture_output=True, text=True).stdout
    d_hex = re.search(r"privateExponent:\s*((?:[0-9a-f]{2}:?\s*)+)", key).group(1)
    d = bytes.fromhex(re.sub(r"[:\s]", "", d_hex)).lstrip(b"\0")
    p_hex = re.search(r"prime1:\s*((?:[0-9a-f]{2}:?\s*)+)", key).group(1)
    p = bytes.fromhex(re.sub(r"[:\s]", "", p_hex)).lstrip(b"\0")
    # OpenSSL keeps big numbers as little-endian words: look for both orders
    # of a 32-byte stretch from the middle of each secret.
    needles = [d[64:96], d[64:96][::-1], p[32:64], p[32:64][::-1]]
    kids = children(srv)
    keyd = [pid for pid, c in kids.items() if c == "sealpost-keyd"]
    workers = [pid for pid, c in kids.items() if c == "sealpost-worker"]
    assert keyd and workers, kids
    assert memory_holds(keyd[0], needles), "control: the key holder has the key"
    for pid in workers:
        assert memory_holds(pid, needles) == set(), f"worker {pid} holds the key"


def test_worker_threads_are_named_for_top_and_perf(make_server):
    """top -H, ps -L and perf show each thread's job: a worker's loop keeps
    the process name, its pool and log writer have their own."""
    srv = make_server(services=("smtp",))
    with smtplib.SMTP("127.0.0.1", srv.ports["smtp"], timeout=10) as s:
        s.sendmail("a@client.test", ["alice@example.test"], b"Subject: t\r\n\r\nx\r\n")
    workers = [pid for pid, c in children(srv).items() if c == "sealpost-worker"]
    assert workers
    for pid in workers:
        names = []
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                names.append(f.read().strip())
        assert names.count("sealpost-worker") == 1, names
        assert "sealpost-pool" in names and "sealpost-log" in names, names


def test_log_lines_have_session_ids(make_server):
    srv = make_server()
    with smtplib.SMTP("127.0.0.1", srv.ports["smtp"], timeout=10) as s:
        s.starttls(context=srv.client_context())
        s.noop()
    import re
    log = srv.wait_log("smtp disconnected")
    lines = [l for l in log.splitlines() if " smtp " in l]
    ids = {re.search(r"info: ([0-9a-f]{8}) smtp ", l).group(1) for l in lines}
    assert len(ids) == 1
    text = "\n".join(lines)
    assert "connected address=127.0.0.1 service=smtp" in text
    assert "tls version=TLSv1.3 cipher=TLS_" in text
    assert 'disconnected reason="closed"' in text     # after our 221
