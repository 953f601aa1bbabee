"""Faults around the server: the disk full during DATA, APPEND and a
certificate import, the open files limit reached, a worker killed under
load, log output nobody reads. The server keeps serving and leaves nothing
half-written."""
import fcntl
import os
import signal
import subprocess
import threading
import time

from mailserver import Raw, Server

USER = "alice@example.test"


# ---- log output blocked -----------------------------------------------------

class PipeLogServer(Server):
    """A server whose stderr is a 4 KiB pipe that the test reads only when
    it says so."""

    def start(self):
        self.rfd, wfd = os.pipe()
        fcntl.fcntl(wfd, fcntl.F_SETPIPE_SZ, 4096)
        env = dict(os.environ)
        env.pop("SEALPOST_CONF", None)
        self.proc = subprocess.Popen([self.binary, "serve", "-c", self.conf],
                                     stdout=subprocess.DEVNULL, stderr=wfd, env=env)
        os.close(wfd)
        self.out = b""
        while b"ready " not in self.out:
            chunk = os.read(self.rfd, 65536)
            assert chunk, self.out
            self.out += chunk
        self.log = open(os.devnull, "ab")

    def drain(self, until=None, quiet=1.5, timeout=30):
        """Read the pipe until `until` shows up (None: until nothing came
        for `quiet` seconds)."""
        deadline = time.time() + timeout
        last = time.time()
        os.set_blocking(self.rfd, False)
        while time.time() < deadline:
            if until is not None and until in self.out:
                return True
            if until is None and time.time() - last > quiet:
                return True
            try:
                chunk = os.read(self.rfd, 65536)
            except BlockingIOError:
                time.sleep(0.05)
                continue
            if not chunk:
                break
            self.out += chunk
            last = time.time()
        return until is None or until in self.out


def smtp_session(port, bad=0):
    """A session; `bad` unknown commands, each logged as a reject."""
    c = Raw(port, timeout=10)
    assert c.reply()[0].startswith(b"220")
    assert c.cmd("EHLO x.test")[0].startswith(b"250")
    c.send(b"BOGUS\r\n" * bad)
    for _ in range(bad):
        assert c.reply()[0].startswith(b"500")
    assert c.cmd("QUIT")[0].startswith(b"221")
    c.close()


def test_full_stderr_never_stalls_the_server(tmp_path):
    """stderr is a full pipe nobody reads: sessions are served as quickly as
    ever, the lines that did not fit are counted, and the count is logged
    once stderr is read again."""
    srv = PipeLogServer(tmp_path, services=("smtp",), users=())
    try:
        check_full_stderr(srv)
    finally:
        if srv.proc is not None:
            srv.proc.kill()
            srv.proc.wait()


def check_full_stderr(srv):
    sessions, worst = 0, 0.0
    start = time.monotonic()
    # Each session logs 17 lines (~2.5 KB): 300 sessions are three times
    # the queue and 180 times the pipe.
    while sessions < 300:
        t = time.monotonic()
        smtp_session(srv.ports["smtp"], bad=15)
        worst = max(worst, time.monotonic() - t)
        sessions += 1
        assert time.monotonic() - start < 120, f"{sessions} sessions in 120 s"
    assert worst < 5, f"a session took {worst:.1f}s"
    # Reading again: each worker's queue comes out, then its note about the
    # rest.
    assert srv.drain(b"log dropped lines="), srv.out[-2000:]
    srv.drain()
    text = srv.out.decode(errors="replace")
    dropped = sum(int(part.split()[0]) for part in text.split("log dropped lines=")[1:])
    assert dropped > 0
    assert text.count(" smtp reject ") + dropped >= sessions * 15  # all told
    # every line whole: each one starts with a time stamp
    for line in text.splitlines():
        assert line[:4].isdigit() and " sealpost[" in line, line
    # still serving, and a clean stop with the log read to its end
    smtp_session(srv.ports["smtp"])
    reader = threading.Thread(target=srv.drain, args=(b"info: stopped",), daemon=True)
    reader.start()
    srv.proc.send_signal(signal.SIGTERM)
    assert srv.proc.wait(30) == 0
    reader.join(10)
    srv.proc = None
    os.close(srv.rfd)
    text = srv.out.decode(errors="replace")
    assert "info: stopped" in text
    assert "AddressSanitizer" not in text and "runtime error" not in text
