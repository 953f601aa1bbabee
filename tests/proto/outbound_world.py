"""The world outbound mail goes to, on loopback, for the outbound tests:
remote MXes (python3-aiosmtpd) on addresses of 127.0.0.0/8 sharing one
port, certificates for them (a test CA, self-signed ones; openssl CLI),
TLSA records of their keys, and a sealpost that sends there.

    pki = Pki(tmp)                       # CA, certificates, TLSA data
    port = free_port_on(["127.0.0.21", "127.0.0.22"])
    mx = Remote("127.0.0.21", port, tls=pki.server_context("mx.example"))
    ...
    mx.messages            # [Received(...)] in arrival order
    mx.stop()

A Remote can refuse recipients (reject: {address: "550 5.1.1 ..."}),
greylist (the first `greylist` tries of each recipient get 451 4.7.1),
require AUTH (auth: {user: password}, inside TLS only) and go slowly
(delay: seconds per DATA). It records every accepted message with the
time it said 250, so a test can tell a duplicate from a retry."""
import asyncio
import hashlib
import os
import socket
import ssl
import subprocess
import threading
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from mailserver import free_port

START_TIMEOUT = 10.0


def free_port_on(addresses):
    """A TCP port free on every address (they all listen on it)."""
    return free_port(tuple(addresses))


def _openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


class Pki:
    """A test CA and certificates (ECDSA P-256) made with the openssl CLI."""

    def __init__(self, root):
        self.root = str(root)
        os.makedirs(self.root, exist_ok=True)
        self.ca = os.path.join(self.root, "test-ca.crt")
        _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt",
                 "ec_paramgen_curve:P-256", "-nodes", "-keyout", "test-ca.key",
                 "-out", "test-ca.crt", "-days", "30", "-subj", "/CN=Sealpost Test CA",
                 "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=self.root)

    def _paths(self, name):
        return (os.path.join(self.root, name + ".crt"),
                os.path.join(self.root, name + ".key"))

    def issue(self, name, dns):
        """A certificate for dns signed by the test CA; (crt, key)."""
        crt, key = self._paths(name)
        with open(os.path.join(self.root, name + ".ext"), "w") as f:
            f.write(f"subjectAltName=DNS:{dns}\nextendedKeyUsage=serverAuth\n"
                    "basicConstraints=CA:FALSE\n")
        _openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                 "-nodes", "-keyout", key, "-out", name + ".csr", "-subj",
                 f"/CN={dns}", cwd=self.root)
        _openssl("x509", "-req", "-in", name + ".csr", "-CA", "test-ca.crt", "-CAkey",
                 "test-ca.key", "-CAcreateserial", "-out", crt, "-days", "30",
                 "-extfile", name + ".ext", cwd=self.root)
        return crt, key

    def self_signed(self, name, dns):
        crt, key = self._paths(name)
        _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt",
                 "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", crt,
                 "-days", "30", "-subj", f"/CN={dns}", "-addext",
                 f"subjectAltName=DNS:{dns}", cwd=self.root)
        return crt, key

    def spki_sha256(self, name):
        """The data of a `3 1 1` TLSA record for the certificate's key."""
        return Pki.spki_sha256_of(self._paths(name)[0])

    @staticmethod
    def spki_sha256_of(crt):
        pub = subprocess.run(["openssl", "x509", "-in", crt, "-noout", "-pubkey"],
                             check=True, capture_output=True).stdout
        der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"],
                             input=pub, check=True, capture_output=True).stdout
        return hashlib.sha256(der).hexdigest()

    def server_context(self, name):
        crt, key = self._paths(name)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(crt, key)
        return ctx


class Received:
    def __init__(self, mail_from, rcpts, content, tls, login, data_time):
        self.data_time = data_time   # the final dot came in
        self.when = time.time()      # the 250 goes out
        self.mail_from = mail_from
        self.rcpts = rcpts
        self.content = content
        self.tls = tls             # True when the session had STARTTLS
        self.login = login         # the AUTH user name, or None
        self.peer = None           # the client's (address, port)


class _Handler:
    def __init__(self, remote):
        self.remote = remote

    async def handle_RCPT(self, server, session, envelope, address, options):
        r = self.remote
        with r.lock:
            if address in r.reject:
                return r.reject[address]
            tries = r.tries.get(address, 0) + 1
            r.tries[address] = tries
        if tries <= r.greylist:
            return "451 4.7.1 Greylisted, try again later"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Ok"

    async def handle_DATA(self, server, session, envelope):
        r = self.remote
        data_time = time.time()
        while r.gate is not None and not r.gate.is_set():
            await asyncio.sleep(0.02)
        if r.gate is not None and _peer_gone(server):
            return "421 4.4.2 the client is gone"
        if r.delay:
            await asyncio.sleep(r.delay)
        if r.data_reply is not None:
            return r.data_reply
        login = session.auth_data if session.authenticated else None
        msg = Received(envelope.mail_from, list(envelope.rcpt_tos),
                       envelope.original_content or envelope.content,
                       server._tls_protocol is not None, login, data_time)
        msg.peer = session.peer
        with r.lock:
            r.messages.append(msg)
        return "250 2.0.0 Ok: stored"


def _peer_gone(server):
    """The client closed its end (a reply would reach nobody)."""
    t = server.transport
    if t is None or t.is_closing():
        return True
    sock = socket.fromfd(t.get_extra_info("socket").fileno(), socket.AF_INET,
                         socket.SOCK_STREAM)
    try:
        return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True
    finally:
        sock.close()


class Remote:
    """An SMTP server of the outside world on address:port. With gate,
    every DATA waits until remote.gate is set (and a session whose client
    went away meanwhile records nothing)."""

    def __init__(self, address, port, tls=None, reject=None, greylist=0,
                 auth=None, delay=0.0, data_reply=None, ident=None, gate=False,
                 size_limit=None):
        self.address = address
        self.port = port
        self.reject = dict(reject or {})
        self.greylist = greylist
        self.auth = auth
        self.delay = delay
        self.data_reply = data_reply
        self.gate = threading.Event() if gate else None
        self.messages = []
        self.logins = []
        self.tries = {}
        self.lock = threading.Lock()
        kw = {}
        if auth is not None:
            kw.update(authenticator=self._authenticate, auth_require_tls=True)
        if size_limit is not None:
            kw.update(data_size_limit=size_limit)     # announced with SIZE
        self.controller = Controller(_Handler(self), hostname=address, port=port,
                                     tls_context=tls, require_starttls=False,
                                     ready_timeout=START_TIMEOUT,
                                     ident=ident or "test-mx", **kw)
        self.controller.start()

    def _authenticate(self, server, session, envelope, mechanism, auth_data):
        ok = (isinstance(auth_data, LoginPassword) and
              self.auth.get(auth_data.login.decode()) == auth_data.password.decode())
        with self.lock:
            self.logins.append((mechanism, auth_data.login.decode(), ok))
        return AuthResult(success=ok, handled=False,
                          auth_data=auth_data.login.decode() if ok else None)

    def subjects(self):
        with self.lock:
            return [_subject(m.content) for m in self.messages]

    def stop(self):
        try:
            self.controller.stop()
        except Exception:
            pass


def _subject(content):
    for line in content.split(b"\r\n"):
        if line.lower().startswith(b"subject:"):
            return line[8:].strip().decode()
        if line == b"":
            break
    return None


def wait_for(cond, timeout=30, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")
