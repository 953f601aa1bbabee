"""Helpers for the IMAP folder and APPEND tests (test_imap_box_*.py):
logins over STARTTLS and IMAPS, a raw tagged client, LIST parsing and a
look at the Maildir on disk."""
import imaplib
import os
import re

from mailserver import PASSWORD, Raw

MODES = ("starttls", "imaps")


def check_no_crash(srv):
    """No worker died (an assertion aborts one; the master restarts it)."""
    text = srv.log_text()
    assert "Assertion" not in text and " died " not in text, text[-4000:]


def login(srv, mode, user):
    """An imaplib session logged in over plaintext-then-STARTTLS or IMAPS."""
    if mode == "starttls":
        m = imaplib.IMAP4("127.0.0.1", srv.ports["imap"], timeout=60)
        m.starttls(ssl_context=srv.client_context())
    else:
        m = imaplib.IMAP4_SSL("127.0.0.1", srv.ports["imaps"], timeout=60,
                              ssl_context=srv.client_context())
    assert m.login(user, PASSWORD)[0] == "OK"
    return m


class RawImap:
    """Byte-level IMAP client: tagged commands, replies read line by line."""

    def __init__(self, srv, mode, user=None, timeout=60):
        if mode == "starttls":
            self.raw = Raw(srv.ports["imap"], timeout=timeout)
            assert self.raw.line().startswith(b"* OK")
            self.raw.send(b"s1 STARTTLS\r\n")
            assert self.raw.line() == b"s1 OK Begin TLS negotiation now"
            self.raw.starttls(srv.client_context())
        else:
            self.raw = Raw(srv.ports["imaps"], tls_ctx=srv.client_context(),
                           timeout=timeout)
            assert self.raw.line().startswith(b"* OK")
        self.n = 0
        if user is not None:
            tag, lines = self.cmd(f"LOGIN {user} \"{PASSWORD}\"")
            assert lines[-1].startswith(tag + b" OK"), lines

    def send(self, data):
        self.raw.send(data)

    def line(self):
        return self.raw.line()

    def next_tag(self):
        self.n += 1
        return f"t{self.n}".encode()

    def until_tagged(self, tag):
        """Lines up to and including the tagged reply of tag."""
        lines = []
        while True:
            line = self.raw.line()
            lines.append(line)
            if line.startswith(tag + b" "):
                return lines

    def cmd(self, text):
        """Send "<tag> text" and read to its tagged reply; (tag, lines)."""
        tag = self.next_tag()
        data = text.encode() if isinstance(text, str) else text
        self.raw.send(tag + b" " + data + b"\r\n")
        return tag, self.until_tagged(tag)

    def close(self):
        self.raw.close()


_LIST_RE = re.compile(rb'^\* (LIST|LSUB) \(([^)]*)\) "(.)" (.*)$')


def unquote(name):
    if name.startswith(b'"'):
        assert name.endswith(b'"'), name
        return re.sub(rb'\\(.)', rb'\1', name[1:-1])
    return name


def parse_list_line(line):
    """b'* LIST (\\A \\B) "/" name [ext]' -> (name str, set of attrs, ext)."""
    m = _LIST_RE.match(line)
    assert m, line
    rest = m.group(4)
    ext = b""
    if rest.startswith(b'"'):
        end = 1
        while rest[end:end + 1] != b'"':
            end += 2 if rest[end:end + 1] == b"\\" else 1
        name, ext = rest[:end + 1], rest[end + 1:].strip()
    else:
        name, _, ext = rest.partition(b" ")
    attrs = set(m.group(2).decode().split())
    return unquote(name).decode(), attrs, ext


def raw_list(client, command):
    """Run a LIST/LSUB on a RawImap; {name: attrs} (extended data dropped)
    and the tagged line."""
    tag, lines = client.cmd(command)
    out = {}
    for line in lines[:-1]:
        name, attrs, _ = parse_list_line(line)
        assert name not in out, (name, lines)
        out[name] = attrs
    return out, lines[-1]


def imaplib_list(m, ref='""', pattern="*", cmd="list"):
    """{name: attrs} from imaplib's list()/lsub()."""
    typ, data = getattr(m, cmd)(ref, pattern)
    assert typ == "OK", data
    out = {}
    for item in data:
        if item is None:
            continue
        assert isinstance(item, bytes), item   # our names never need literals
        name, attrs, _ = parse_list_line(b"* LIST " + item)
        out[name] = attrs
    return out


def folder_dir(srv, user, folder):
    """The Maildir of folder ("INBOX", "Lists/Work") of user."""
    if folder.upper() == "INBOX":
        return srv.maildir(user)
    return srv.maildir(user, folder.replace("/", "."))


def files(srv, user, folder, sub):
    d = os.path.join(folder_dir(srv, user, folder), sub)
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


def all_files_under(path):
    out = []
    for base, dirs, names in os.walk(path):
        for n in names:
            out.append(os.path.relpath(os.path.join(base, n), path))
    return sorted(out)
