"""Helpers for the IMAP selected-state tests (test_imap_sel_*.py): log in
over STARTTLS or IMAPS, deliver or place messages, and a raw client that
reads whole responses, literals included."""
import imaplib
import os
import re
import smtplib
import time

from mailserver import PASSWORD, Raw, Server

ALICE = "alice@example.test"
BOB = "bob@example.test"
CORPUS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                      "corpus", "mime")
MODES = ("starttls", "imaps")


def imap_server(root, **kw):
    kw.setdefault("services", ("smtp", "imap", "imaps"))
    kw.setdefault("users", (ALICE, BOB))
    return Server(root, **kw)


def login(srv, mode="imaps", user=ALICE):
    """An imaplib client logged in over STARTTLS or implicit TLS."""
    if mode == "imaps":
        m = imaplib.IMAP4_SSL("127.0.0.1", srv.ports["imaps"], timeout=20,
                              ssl_context=srv.client_context())
    else:
        m = imaplib.IMAP4("127.0.0.1", srv.ports["imap"], timeout=20)
        m.starttls(ssl_context=srv.client_context())
    assert m.login(user, PASSWORD)[0] == "OK"
    return m


def deliver(srv, data, rcpt=ALICE, sender="sender@example.org"):
    """Deliver data over SMTP; returns when the server said 250."""
    with smtplib.SMTP("127.0.0.1", srv.ports["smtp"], timeout=20) as s:
        s.sendmail(sender, [rcpt], data)


_counter = [0]


def place(srv, data, user=ALICE, folder="", sub="cur", info=":2,", mtime=None):
    """Write a message file into the Maildir as another program would;
    returns its path."""
    _counter[0] += 1
    d = os.path.join(srv.maildir(user, folder), sub)
    name = f"{int(time.time())}.M{_counter[0]}P{os.getpid()}.otherhost"
    path = os.path.join(d, name + (info if sub == "cur" else ""))
    tmp = os.path.join(srv.maildir(user, folder), "tmp", name)
    with open(tmp, "wb") as f:
        f.write(data)
    if mtime is not None:
        os.utime(tmp, (mtime, mtime))
    os.rename(tmp, path)
    return path


def take_recent(srv, user=ALICE, folder="INBOX"):
    """SELECT folder in a session of its own, which takes the \\Recent of
    every message there (placed, delivered, appended) and leaves."""
    c = RawImap(srv).login(user)
    _, done = c.command(f"SELECT {folder}")
    assert rest(done).startswith(b"OK"), done
    c.command("LOGOUT")


def corpus(name, ext="eml"):
    with open(os.path.join(CORPUS, f"{name}.{ext}"), "rb") as f:
        return f.read()


def simple_message(subject="hello", body="body text\r\n", extra=""):
    return (f"From: Sender <sender@example.org>\r\nTo: alice@example.test\r\n"
            f"Subject: {subject}\r\nDate: Mon, 20 May 2024 10:00:00 +0000\r\n"
            f"Message-ID: <{subject.replace(' ', '.')}@example.org>\r\n{extra}"
            f"\r\n{body}").encode()


class RawImap(Raw):
    """Byte-level IMAP client: whole responses, literals read exactly."""

    def __init__(self, srv, mode="imaps", timeout=20):
        if mode == "imaps":
            super().__init__(srv.ports["imaps"], tls_ctx=srv.client_context(),
                             timeout=timeout)
            self.greeting = self.line()
        else:
            super().__init__(srv.ports["imap"], timeout=timeout)
            self.greeting = self.line()
            self.send(b"s STARTTLS\r\n")
            assert self.line().startswith(b"s OK")
            self.starttls(srv.client_context())
        self.tagno = 0

    def read_exact(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise EOFError(self.buf)
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def response(self):
        """One response line with its literals joined in: a list of bytes
        parts [text, literal, text, literal, ..., text]."""
        parts = [self.line()]
        while True:
            m = re.search(rb"\{(\d+)\}$", parts[-1])
            if m is None:
                return parts
            parts.append(self.read_exact(int(m.group(1))))
            parts.append(self.line())

    def command(self, text, tag=None):
        """Send a command; returns (untagged responses, tagged line)."""
        if tag is None:
            self.tagno += 1
            tag = f"t{self.tagno}"
        if isinstance(text, str):
            text = text.encode()
        self.send(tag.encode() + b" " + text + b"\r\n")
        return self.until(tag)

    def until(self, tag):
        untagged = []
        while True:
            parts = self.response()
            if parts[0].startswith(tag.encode() + b" "):
                return untagged, parts[0]
            untagged.append(parts)

    def login(self, user=ALICE):
        _, done = self.command(f"LOGIN {user} \"{PASSWORD}\"")
        assert done.split()[1] == b"OK", done
        return self


def rest(tagged):
    """A tagged reply without its tag: b"OK Fetch completed"."""
    return tagged.split(b" ", 1)[1]


def raw(parts):
    """One response exactly as sent, literal announcements included."""
    out = b""
    for i, p in enumerate(parts):
        out += p
        if i % 2 == 0 and i + 1 < len(parts):
            out += b"\r\n"
    return out


def flat(untagged):
    """Untagged responses as one bytes string each (literals joined)."""
    return [b"".join(p) for p in untagged]
