"""Start the real sealpost server for a test and talk raw bytes to it."""
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import time

from conftest import BIN, ROOT, run_cli

# The release build, for measurements the sanitizers would distort (ASan
# keeps freed memory in quarantine).
RELEASE_BIN = os.path.join(ROOT, "build/sealpost")

SERVICES = ("smtp", "submission", "smtps", "pop3", "pop3s", "imap", "imaps")
PASSWORD = "correct horse battery staple"
_CERT_CACHE = {}


sys.path.insert(0, os.path.join(ROOT, "bench"))
from bench_server import free_port  # noqa: E402,F401  (one port chooser)


def make_cert(certs_dir):
    """A self-signed pair for localhost/127.0.0.1 made with the openssl CLI
    (cached per test session: key generation is the slow part)."""
    os.makedirs(certs_dir, exist_ok=True)
    if "pair" not in _CERT_CACHE:
        src = os.path.join(os.path.dirname(certs_dir), ".cert-src")
        os.makedirs(src, exist_ok=True)
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
             "-keyout", f"{src}/mail.key", "-out", f"{src}/mail.crt",
             "-days", "30", "-subj", "/CN=localhost",
             "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
            check=True, capture_output=True)
        _CERT_CACHE["pair"] = (open(f"{src}/mail.crt", "rb").read(),
                               open(f"{src}/mail.key", "rb").read())
    crt, key = _CERT_CACHE["pair"]
    with open(os.path.join(certs_dir, "mail.crt"), "wb") as f:
        f.write(crt)
    fd = os.open(os.path.join(certs_dir, "mail.key"),
                 os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key)


def _bindable(spec):
    """Could a new server listen on spec ("ADDRESS:PORT", "[IPv6]:PORT")
    now, as sealpost binds (SO_REUSEADDR)? False while any process still
    has a listening socket there."""
    host, port = spec.rsplit(":", 1)
    host = host.strip("[]")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, int(port)))
        except OSError:
            return False
    return True


def _running(pid):
    """Is the process there and not yet a zombie (one that has exited
    has closed every file)?"""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


class Server:
    """A running `sealpost serve` on free loopback ports."""

    def __init__(self, root, services=("smtp", "submission", "smtps"),
                 extra="", limits="", users=("alice@example.test",),
                 workers=2, domains="example.test, example.org", binary=None,
                 certificate="mail", sections="", listen=None):
        """listen: {service: "ADDRESS:PORT"} instead of free loopback ports
        (a remote MX on a port of the test's choice)."""
        self.root = str(root)
        self.binary = binary or BIN
        self.ports = {s: free_port() for s in services}
        self.listen = {s: f"127.0.0.1:{p}" for s, p in self.ports.items()}
        for s, spec in (listen or {}).items():
            self.listen[s] = spec
            self.ports[s] = int(spec.rsplit(":", 1)[1])
        self.conf = os.path.join(self.root, "sealpost.conf")
        self.data = os.path.join(self.root, "data")
        self.certs = os.path.join(self.root, "certs")
        make_cert(self.certs)
        listen = "\n".join(f"{s} = {spec}" for s, spec in self.listen.items())
        with open(self.conf, "w") as f:
            f.write(f"hostname = mail.example.test\n"
                    f"domains = {domains}\n"
                    f"data_dir = data\ncerts_dir = certs\n"
                    f"certificate = {certificate}\n"
                    f"workers = {workers}\n{extra}\n"
                    f"[listen]\n{listen}\n[limits]\n{limits}\n{sections}")
        for user in users:
            self.add_user(user)
        self.log_path = os.path.join(self.root, "server.log")
        self.proc = None
        self.start()

    def add_user(self, address, password=PASSWORD):
        r = run_cli("user", "add", address, "-c", self.conf, input=password + "\n")
        assert r.rc == 0, r

    def start(self):
        self.log = open(self.log_path, "ab")
        offset = self.log.tell()
        env = dict(os.environ)
        env.pop("SEALPOST_CONF", None)
        self.proc = subprocess.Popen([self.binary, "serve", "-c", self.conf],
                                     stdout=subprocess.DEVNULL, stderr=self.log,
                                     env=env)
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited {self.proc.returncode}:\n"
                                   + self._read_log())
            if "ready " in self._read_log()[offset:]:
                return
            time.sleep(0.05)
        raise RuntimeError("server did not start:\n" + self._read_log())

    def _read_log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def log_text(self, settle=0.3, limit=3.0):
        """The log once it has stopped growing for `settle` seconds (at most
        `limit`): the server writes its log from a thread that gathers lines,
        so a line for something that has just happened can still be on its way."""
        deadline = time.time() + limit
        text = self._read_log()
        while time.time() < deadline:
            time.sleep(settle)
            again = self._read_log()
            if again == text:
                break
            text = again
        return text

    def wait_log(self, text, timeout=10):
        """Wait until text appears in the log; returns the log."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            log = self._read_log()
            if text in log:
                return log
            time.sleep(0.05)
        raise AssertionError(f"{text!r} not logged:\n" + self._read_log()[-3000:])

    def wait_log_re(self, pattern, timeout=10, count=1):
        """Wait until the regular expression matches count times in the log
        (multi-line mode); returns the log. For a server that several
        tests share: wait_log(text) returns at once when an earlier test
        logged the same text, before this test's line is written."""
        rx = re.compile(pattern, re.M)
        deadline = time.time() + timeout
        while time.time() < deadline:
            log = self._read_log()
            if len(rx.findall(log)) >= count:
                return log
            time.sleep(0.05)
        raise AssertionError(f"{pattern!r} not logged {count} time(s):\n"
                             + self._read_log()[-3000:])

    def stop(self, sig=signal.SIGTERM, timeout=30):
        """Stop; returns the exit status."""
        if self.proc is None:
            return 0
        self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.proc = None
        self.log.close()
        return rc

    def kill9(self):
        """SIGKILL the master and every worker, and wait until all of them
        have closed their files: a dying process leaves the process list
        (its command line) before it closes its sockets, and a restart on
        the same ports must not find them still bound."""
        pattern = f"serve -c {self.conf}"
        found = subprocess.run(["pgrep", "-f", pattern], capture_output=True,
                               text=True).stdout.split()
        subprocess.run(["pkill", "-KILL", "-f", pattern])
        self.proc.wait()
        self.proc = None
        self.log.close()
        deadline = time.time() + 10
        for pid in found:
            while time.time() < deadline and _running(pid):
                time.sleep(0.01)
        # And no listening socket is left (one held by a process forked
        # after the pgrep above, or released by the kernel a moment after
        # its process died): a restart then fails "Address already in use".
        for spec in self.listen.values():
            while time.time() < deadline and not _bindable(spec):
                time.sleep(0.01)

    def check_clean_exit(self):
        rc = self.stop()
        text = self.log_text()
        assert "AddressSanitizer" not in text, text[-4000:]
        assert "runtime error" not in text, text[-4000:]
        assert "LeakSanitizer" not in text, text[-4000:]
        assert rc == 0, f"exit status {rc}\n" + text[-4000:]

    # ---- mailboxes ---------------------------------------------------------
    def maildir(self, address, folder=""):
        local, domain = address.split("@")
        path = os.path.join(self.data, "mail", domain, local)
        return os.path.join(path, "." + folder) if folder else path

    def messages(self, address, sub="new"):
        d = os.path.join(self.maildir(address), sub)
        if not os.path.isdir(d):
            return []
        out = []
        for name in sorted(os.listdir(d), key=lambda n: os.stat(os.path.join(d, n)).st_mtime_ns):
            with open(os.path.join(d, name), "rb") as f:
                out.append(f.read())
        return out

    # ---- TLS -----------------------------------------------------------------
    def client_context(self):
        ctx = ssl.create_default_context(cafile=os.path.join(self.certs, "mail.crt"))
        return ctx


def strip_trace(message):
    """The message as the client sent it: without our Return-Path and
    Received header (and its continuation lines)."""
    lines = message.split(b"\r\n")
    i = 0
    while i < len(lines) and (lines[i].startswith(b"Return-Path:") or
                              lines[i].startswith(b"Received: from") or
                              (i > 0 and lines[i].startswith(b"\t"))):
        i += 1
    return b"\r\n".join(lines[i:])


class Raw:
    """A byte-level client: send exactly these bytes, read replies."""

    def __init__(self, port, tls_ctx=None, timeout=10):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        if tls_ctx is not None:
            self.sock = tls_ctx.wrap_socket(self.sock, server_hostname="localhost")
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data)

    def starttls(self, ctx):
        self.sock = ctx.wrap_socket(self.sock, server_hostname="localhost")

    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError(self.buf)
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def reply(self):
        """One SMTP reply (all its lines)."""
        lines = [self.line()]
        while lines[-1][3:4] == b"-":
            lines.append(self.line())
        return lines

    def cmd(self, text):
        self.send(text.encode() + b"\r\n" if isinstance(text, str) else text)
        return self.reply()

    def read_all(self, timeout=2):
        """Everything until the server closes (or timeout)."""
        self.sock.settimeout(timeout)
        data = self.buf
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    break
                data += chunk
        except (socket.timeout, ConnectionResetError, ssl.SSLError):
            pass
        self.buf = b""
        return data

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
