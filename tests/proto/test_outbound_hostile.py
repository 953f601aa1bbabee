"""Remote MXes that misbehave around STARTTLS (scripted servers on
127.0.0.0/8): one answers STARTTLS before the command was sent (its reply
pipelined behind its EHLO reply), one sends a command behind its 220 (the
injection of CVE-2011-0411, seen from the client). Neither may crash the
queue process or get a byte of the message in plaintext: each delivery is
deferred with the reason, and the queue process keeps serving."""
import contextlib
import socket
import threading

import pytest

from dnsworld import DnsWorld, Zone
from mailserver import Server
from outbound_world import free_port_on, wait_for
from test_outbound import submit

MX = {"eager": "127.0.0.71", "inject": "127.0.0.72"}
# What each server sends after the client's EHLO (its greeting came first).
AFTER_EHLO = {
    "eager": b"250-mx.example\r\n250 STARTTLS\r\n220 2.0.0 go ahead\r\n",
    "inject": b"250-mx.example\r\n250 STARTTLS\r\n",
}
AFTER_STARTTLS = {
    "eager": b"",
    "inject": b"220 2.0.0 go ahead\r\nRSET\r\n",
}


class Scripted:
    """A server that plays its lines and records what it was sent."""

    def __init__(self, kind, address, port):
        self.kind, self.got = kind, b""
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((address, port))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.stopped = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stopped:
            try:
                c, _ = self.sock.accept()
            except OSError:
                continue
            with c:
                c.settimeout(5)
                try:
                    self._session(c)
                except OSError:
                    pass

    def _read_line(self, c):
        line = b""
        while not line.endswith(b"\n"):
            b = c.recv(1)
            if not b:
                break
            line += b
        self.got += line
        return line

    def _session(self, c):
        c.sendall(b"220 mx.example ESMTP\r\n")
        if not self._read_line(c).upper().startswith(b"EHLO"):
            return
        c.sendall(AFTER_EHLO[self.kind])
        if self._read_line(c).upper().startswith(b"STARTTLS") and AFTER_STARTTLS[self.kind]:
            c.sendall(AFTER_STARTTLS[self.kind])
        while self._read_line(c):        # whatever comes, until the close
            pass

    def stop(self):
        self.stopped = True
        self.thread.join(timeout=5)
        self.sock.close()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    port = free_port_on(list(MX.values()))
    with contextlib.ExitStack() as stack:
        dns = DnsWorld(root / "dns", [Zone("example.", signed=True, records=f"""
            eager     MX 10 mx-eager
            inject    MX 10 mx-inject
            mx-eager  A  {MX['eager']}
            mx-inject A  {MX['inject']}
        """)])
        stack.callback(dns.stop)
        remotes = {kind: Scripted(kind, MX[kind], port) for kind in MX}
        for r in remotes.values():
            stack.callback(r.stop)
        srv = Server(root / "srv", services=("smtp", "submission"),
                     users=("alice@example.test",),
                     extra=dns.outbound_conf() +
                     f"port = {port}\nretry_min = 1h\n"
                     "[tls_policy]\neager.example = encrypt\n"
                     "inject.example = encrypt\n")
        yield srv, remotes
        srv.check_clean_exit()


@pytest.mark.parametrize("kind,reason", [
    ("eager", "the server answered STARTTLS before it was sent"),
    ("inject", "the server sent data after its STARTTLS reply"),
])
def test_misbehaving_starttls_is_deferred(world, kind, reason):
    srv, remotes = world
    submit(srv, [f"someone@{kind}.example"], f"hostile {kind}")
    log = srv.wait_log(f"to=<someone@{kind}.example> reason=")
    line = [l for l in log.splitlines()
            if f"to=<someone@{kind}.example> reason=" in l][-1]
    assert "deferred" in line and reason in line, line
    # nothing of the message went out, and the queue process lives on
    assert b"MAIL FROM" not in remotes[kind].got
    assert b"hostile" not in remotes[kind].got
    assert " died" not in srv.log_text() and "Assertion" not in srv.log_text()
    wait_for(lambda: "attempt 1," in
             __import__("conftest").run_cli("queue", "list", "-c", srv.conf).out,
             what="the deferral recorded")
