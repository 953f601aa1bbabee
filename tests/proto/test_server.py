"""serve: start-up errors, privileges, logs."""
import os
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


def _drop_privileges(srv, pw):
    workers = subprocess.run(["pgrep", "-P", str(srv.proc.pid)], capture_output=True,
                             text=True).stdout.split()
    assert workers
    for pid in workers + [str(srv.proc.pid)]:
        with open(f"/proc/{pid}/status") as f:
            uids = [l for l in f if l.startswith("Uid:")][0].split()[1:]
        assert set(uids) == {str(pw.pw_uid)}, (pid, uids)
    assert "privileges dropped user=sealpost" in srv.log_text()
    with smtplib.SMTP("127.0.0.1", srv.ports["smtp"], timeout=10) as s:
        s.starttls(context=srv.client_context())
        s.sendmail("x@remote.test", ["alice@example.test"], b"Subject: p\r\n\r\nx\r\n")
    msgs = os.listdir(os.path.join(srv.maildir("alice@example.test"), "new"))
    assert len(msgs) == 1
    st = os.stat(os.path.join(srv.maildir("alice@example.test"), "new", msgs[0]))
    assert st.st_uid == pw.pw_uid
    srv.check_clean_exit()


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
