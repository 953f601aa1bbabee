"""Abusive clients: the server's memory and connection slots stay bounded,
and everyone else keeps being served."""
import os
import signal
import socket
import ssl
import subprocess
import threading
import time

import pytest

from mailserver import PASSWORD, RELEASE_BIN, Raw, Server
from bench_server import proc_cpu_seconds  # noqa: E402  (mailserver puts bench/ on the path)


def child_pids(srv):
    return subprocess.run(["pgrep", "-P", str(srv.proc.pid)], capture_output=True,
                          text=True).stdout.split()


def workers_rss_kib(srv):
    total = 0
    for pid in child_pids(srv):
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


def workers_cpu_s(srv):
    """CPU seconds (user + system) of the server's child processes."""
    return sum(proc_cpu_seconds(int(pid)) for pid in child_pids(srv))


class RecordClient:
    """TLS over memory BIOs on a connected socket: the test decides where
    the bytes of a record are cut."""

    def __init__(self, sock, ctx):
        self.sock, self.buf = sock, b""
        self.inc, self.out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = ctx.wrap_bio(self.inc, self.out, server_hostname="localhost")
        while True:
            try:
                self.tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                self.sock.sendall(self.out.read())
                self._recv()
        self.sock.sendall(self.out.read())

    def _recv(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError(self.buf)
        self.inc.write(data)

    def record(self, data):
        """The encrypted bytes of data, not sent."""
        self.tls.write(data)
        return self.out.read()

    def close_notify(self):
        """The encrypted close_notify alert, not sent."""
        try:
            self.tls.unwrap()
        except ssl.SSLWantReadError:
            pass                        # it waits for the server's own
        return self.out.read()

    def line(self):
        while b"\r\n" not in self.buf:
            try:
                self.buf += self.tls.read(65536)
            except ssl.SSLWantReadError:
                self._recv()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line


@pytest.mark.parametrize("service", ["imaps", "smtp"])
def test_half_a_tls_record_costs_no_cpu(make_server, service):
    """A client that stops in the middle of a TLS record (a slow link, or
    on purpose) leaves the worker asleep until the rest arrives, then gets
    its answer: OpenSSL holding part of a record is not input to come back
    for (it spun the worker at 100 % CPU). IMAPS and SMTP after STARTTLS."""
    srv = make_server(services=(service,))
    plain = Raw(srv.ports[service])
    sock = plain.sock
    try:
        if service == "smtp":
            smtp_starttls(plain)
        c = RecordClient(sock, srv.client_context())
        if service == "imaps":
            assert c.line().startswith(b"* OK")
            command, answer = b"a NOOP\r\n", b"a OK"
        else:
            command, answer = b"NOOP\r\n", b"250 "
        record = c.record(command)
        assert len(record) > 12
        cpu0 = workers_cpu_s(srv)
        sock.sendall(record[:12])          # the header and a little more
        time.sleep(1.5)
        spent = workers_cpu_s(srv) - cpu0
        sock.sendall(record[12:])
        assert c.line().startswith(answer)
        assert spent < 0.3, f"the workers spent {spent:.2f} s CPU waiting"
    finally:
        sock.close()


def smtp_starttls(plain):
    """EHLO and STARTTLS on a fresh port 25 connection (a Raw client), in
    plaintext; its socket is then ready for the TLS handshake."""
    assert plain.reply()[0].startswith(b"220 ")
    plain.send(b"EHLO client.test\r\n")
    assert plain.reply()[-1].startswith(b"250 ")
    plain.send(b"STARTTLS\r\n")
    assert plain.reply()[0].startswith(b"220 ")
    assert plain.buf == b""


def test_a_command_sent_with_the_close_notify_is_served(make_server):
    """A client that sends its last command and its close_notify in one go
    (a script piping into openssl s_client) has the command served before
    the session ends, as on plain TCP: the server reads both records at
    once (read-ahead) and hands the command over before the end."""
    srv = make_server(services=("imaps",))
    sock = socket.create_connection(("127.0.0.1", srv.ports["imaps"]), timeout=10)
    try:
        c = RecordClient(sock, srv.client_context())
        assert c.line().startswith(b"* OK")
        sock.sendall(c.record(f'a LOGIN alice@example.test "{PASSWORD}"\r\n'.encode())
                     + c.close_notify())
        deadline = time.monotonic() + 10
        done = 'auth ok user="alice@example.test" mechanism=LOGIN'
        while done not in srv.log_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert done in srv.log_text()
    finally:
        sock.close()


@pytest.fixture(scope="module")
def keyupdate_client():
    """tests/proto/keyupdate_client.c (make test builds it; so does this)."""
    from conftest import ROOT
    r = subprocess.run(["make", "-s", "build/tests/keyupdate_client"], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    return os.path.join(ROOT, "build/tests/keyupdate_client")


def test_a_keyupdate_into_a_full_socket_costs_no_cpu(make_server, keyupdate_client):
    """A TLS 1.3 client that stops reading and asks for KeyUpdates fills the
    server's socket with the answers: SSL_read then wants to write the next
    one while the client's records keep the socket readable. The worker
    waits for writability, not for input (it spun at 100 % CPU reading
    again and again), and the server goes on serving."""
    srv = make_server(services=("imaps",))
    seconds = 2
    client = subprocess.Popen([keyupdate_client, str(srv.ports["imaps"]), str(seconds)],
                              stdout=subprocess.PIPE, text=True)
    try:
        ready = client.stdout.readline()
        assert ready.startswith("ready "), ready    # the server stopped reading
        cpu0 = workers_cpu_s(srv)
        done = client.stdout.readline()
        spent = workers_cpu_s(srv) - cpu0
        assert done.startswith("done "), done
        assert client.wait(10) == 0
    finally:
        client.kill()
        client.wait()
    assert spent < 0.3, f"the workers spent {spent:.2f} s CPU in {seconds} s"
    c = Raw(srv.ports["imaps"], tls_ctx=srv.client_context())
    assert c.line().startswith(b"* OK")
    c.close()
