"""Abusive clients: the server's memory and connection slots stay bounded,
and everyone else keeps being served."""
import os
import signal
import socket
import subprocess
import threading
import time

import pytest

from mailserver import PASSWORD, RELEASE_BIN, Raw, Server


def workers_rss_kib(srv):
    pids = subprocess.run(["pgrep", "-P", str(srv.proc.pid)], capture_output=True,
                          text=True).stdout.split()
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/status") as f:
            total += int([l for l in f if l.startswith("VmRSS:")][0].split()[1])
    return total


@pytest.mark.parametrize("service,command", [("smtp", b"HELP\r\n"),
                                             ("imap", b"a CAPABILITY\r\n"),
                                             ("pop3", b"CAPA\r\n")])
def test_client_that_never_reads_cannot_grow_output(tmp_path, service, command):
    """Commands stop being read while their answers wait (release build:
    ASan's quarantine would hide the answer)."""
    srv = Server(tmp_path, services=(service,), users=(), binary=RELEASE_BIN)
    base = workers_rss_kib(srv)
    s = socket.create_connection(("127.0.0.1", srv.ports[service]), timeout=5)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    payload = command * (8 * 1024 * 1024 // len(command))

    def flood():
        try:
            s.sendall(payload)
        except OSError:
            pass
    t = threading.Thread(target=flood, daemon=True)
    t.start()
    time.sleep(3)
    grown = workers_rss_kib(srv) - base
    assert grown < 4 * 1024, f"workers grew by {grown} KiB"
    s.close()
    t.join(10)
    # still serving
    c = Raw(srv.ports[service])
    assert c.line()[:1] in (b"2", b"+", b"*")
    c.close()
    srv.check_clean_exit()


def test_smtp_disconnect_right_after_the_data_frees_the_slot(make_server):
    srv = make_server(limits="max_connections_per_ip = 3")
    body = b"Subject: x\r\n\r\n" + (b"y" * 998 + b"\r\n") * 300
    for _ in range(4):
        c = Raw(srv.ports["smtp"])
        c.reply()
        c.cmd("EHLO x.test")
        c.cmd("MAIL FROM:<a@remote.test>")
        c.cmd("RCPT TO:<alice@example.test>")
        c.cmd("DATA")
        c.send(body + b".\r\n")
        c.sock.shutdown(socket.SHUT_RDWR)
        c.close()
        time.sleep(0.5)     # the server sees the close
    time.sleep(1)
    for _ in range(3):
        c = Raw(srv.ports["smtp"])
        assert c.reply()[0].startswith(b"220"), "connection slots leaked"
        c.cmd("QUIT")
        c.close()
    t = time.time()
    srv.check_clean_exit()
    assert time.time() - t < 8      # no session left to wait for


def test_imap_disconnect_right_after_append_frees_the_slot(make_server):
    srv = make_server(services=("imaps",), limits="max_connections_per_ip = 3")
    msg = b"Subject: x\r\n\r\n" + (b"y" * 998 + b"\r\n") * 300
    for i in range(4):
        c = Raw(srv.ports["imaps"], tls_ctx=srv.client_context())
        c.line()
        c.send(f'a LOGIN alice@example.test "{PASSWORD}"\r\n'.encode())
        c.line()
        c.send(b"b APPEND INBOX {%d+}\r\n" % len(msg) + msg + b"\r\n")
        c.close()
        time.sleep(0.5)     # the server sees the close
    time.sleep(1)
    for _ in range(3):
        c = Raw(srv.ports["imaps"], tls_ctx=srv.client_context())
        assert c.line().startswith(b"* OK"), "connection slots leaked"
        c.close()
    tmp = os.path.join(srv.maildir("alice@example.test"), "tmp")
    assert os.listdir(tmp) == []
    srv.check_clean_exit()


def test_killed_worker_gives_its_connections_back(make_server):
    srv = make_server(limits="max_connections_per_ip = 2", workers=1)
    held = [Raw(srv.ports["smtp"]) for _ in range(2)]
    for c in held:
        c.reply()
    assert Raw(srv.ports["smtp"]).read_all().startswith(b"421")
    worker = subprocess.run(["pgrep", "-P", str(srv.proc.pid)], capture_output=True,
                            text=True).stdout.split()[0]
    os.kill(int(worker), signal.SIGKILL)
    srv.wait_log("died")
    time.sleep(0.5)
    c = Raw(srv.ports["smtp"])
    assert c.reply()[0].startswith(b"220")
    c.close()
    for c in held:
        c.close()
    srv.check_clean_exit()


def test_recipient_guessing_ends_the_session(make_server):
    srv = make_server()
    c = Raw(srv.ports["smtp"])
    c.reply()
    c.cmd("EHLO x.test")
    c.cmd("MAIL FROM:<a@remote.test>")
    for i in range(19):
        assert c.cmd(f"RCPT TO:<guess{i}@example.test>")[0].startswith(b"550")
    c.send(b"RCPT TO:<guess19@example.test>\r\n")
    assert b"421 4.7.0 mail.example.test Error: too many errors" in c.read_all()
