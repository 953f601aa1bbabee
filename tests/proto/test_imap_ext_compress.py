"""COMPRESS=DEFLATE (RFC 4978) over STARTTLS and IMAPS: imaplib through a
zlib layer (raw DEFLATE, wbits=-15, Z_SYNC_FLUSH after each command), a
large FETCH and an APPEND through compression, the bytes saved on a FETCH
of headers, pipelining across the switch, refusals, corrupt input."""
import imaplib
import os
import random
import re
import socket
import zlib

import pytest

from imap_sel_util import MODES, RawImap, flat, imap_server, place, rest
from mailserver import PASSWORD

_users = [0]
# imaplib knows only the commands it has a name for
imaplib.Commands.setdefault("COMPRESS", ("AUTH", "SELECTED"))


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    s = imap_server(tmp_path_factory.mktemp("imapcompress"))
    yield s
    s.check_clean_exit()


def fresh_user(srv):
    _users[0] += 1
    user = f"z{_users[0]}@example.test"
    srv.add_user(user)
    return user


class Deflating:
    """imaplib's three I/O calls through raw DEFLATE once start() ran;
    counts the bytes on the wire and in the clear."""

    def start_compress(self):
        typ, data = self._simple_command("COMPRESS", "DEFLATE")
        assert typ == "OK", data
        self._zo = zlib.compressobj(wbits=-15)
        self._zi = zlib.decompressobj(wbits=-15)
        self._zbuf = b""
        self.wire_in = self.plain_in = self.wire_out = self.plain_out = 0
        return data

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise imaplib.IMAP4.abort("server closed")
        self.wire_in += len(chunk)
        plain = self._zi.decompress(chunk)
        self.plain_in += len(plain)
        self._zbuf += plain

    def read(self, size):
        if not hasattr(self, "_zi"):
            return super().read(size)
        while len(self._zbuf) < size:
            self._fill()
        data, self._zbuf = self._zbuf[:size], self._zbuf[size:]
        return data

    def readline(self):
        if not hasattr(self, "_zi"):
            return super().readline()
        while b"\n" not in self._zbuf:
            self._fill()
        line, _, self._zbuf = self._zbuf.partition(b"\n")
        return line + b"\n"

    def send(self, data):
        if not hasattr(self, "_zo"):
            return super().send(data)
        wire = self._zo.compress(data) + self._zo.flush(zlib.Z_SYNC_FLUSH)
        self.plain_out += len(data)
        self.wire_out += len(wire)
        self.sock.sendall(wire)


class ZImap(Deflating, imaplib.IMAP4):
    pass


class ZImapSSL(Deflating, imaplib.IMAP4_SSL):
    pass


def zlogin(srv, mode, user):
    if mode == "imaps":
        m = ZImapSSL("127.0.0.1", srv.ports["imaps"], timeout=30,
                     ssl_context=srv.client_context())
    else:
        m = ZImap("127.0.0.1", srv.ports["imap"], timeout=30)
        m.starttls(ssl_context=srv.client_context())
    assert m.login(user, PASSWORD)[0] == "OK"
    return m


def header_corpus(n):
    """n messages with realistic, varied headers."""
    rnd = random.Random(4978)
    msgs = []
    for i in range(n):
        who = rnd.choice(["Anne Smith <anne@example.org>", "bob@lists.example.net",
                          "\"Carl Jung\" <carl@psy.example>"])
        msgs.append((
            f"Return-Path: <bounce-{i}@lists.example.net>\r\n"
            f"Received: from mx{i % 7}.example.net (mx{i % 7}.example.net "
            f"[192.0.2.{i % 250}]) by mail.example.test with ESMTPS id {i:08x}\r\n"
            f"From: {who}\r\nTo: Alice <alice@example.test>\r\n"
            f"Subject: Weekly report number {i} on the project status\r\n"
            f"Date: Mon, {1 + i % 28} Jan 2024 10:{i % 60:02d}:00 +0000\r\n"
            f"Message-ID: <{rnd.getrandbits(64):016x}@lists.example.net>\r\n"
            f"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
            f"List-Id: Project list <project.lists.example.net>\r\n"
            f"\r\nBody {i}\r\n").encode())
    return msgs


@pytest.mark.parametrize("mode", MODES)
def test_compress_imaplib(srv, mode):
    # The server is shared: this session's totals are the line after these.
    logged = len(re.findall(r"compress in=", srv.log_text()))
    user = fresh_user(srv)
    msgs = header_corpus(200)
    for i, m in enumerate(msgs):
        place(srv, m, user=user, mtime=1700000000 + i)
    big = b"".join(b"line %06d of a big message with some text\r\n" % i
                   for i in range(30000))
    big = b"Subject: big\r\n\r\n" + big
    place(srv, big, user=user, mtime=1700001000)
    m = zlogin(srv, mode, user)
    assert m.start_compress() == [b"DEFLATE active"]
    assert m.noop()[0] == "OK"
    typ, data = m.select("INBOX")
    assert typ == "OK" and data == [b"201"]
    # a FETCH of headers: the bytes the compression saves
    before_wire, before_plain = m.wire_in, m.plain_in
    typ, data = m.fetch("1:200", "(BODY.PEEK[HEADER])")
    assert typ == "OK"
    got = [d[1] for d in data if isinstance(d, tuple)]
    assert got == [x.split(b"\r\n\r\n")[0] + b"\r\n\r\n" for x in msgs]
    wire = m.wire_in - before_wire
    plain = m.plain_in - before_plain
    print(f"\nFETCH 1:200 BODY.PEEK[HEADER] ({mode}): {plain} bytes, "
          f"{wire} on the wire ({100 * (plain - wire) / plain:.0f}% saved)")
    assert wire < plain * 0.3, (wire, plain)
    # a large body, exact
    typ, data = m.fetch("201", "(BODY.PEEK[])")
    assert typ == "OK" and data[0][1] == big
    # APPEND through compression (a synchronising literal), then read it
    note = b"Subject: appended\r\n\r\n" + os.urandom(3000).hex().encode() + b"\r\n"
    typ, data = m.append("INBOX", "(\\Seen)", None, note)
    assert typ == "OK" and b"APPENDUID" in data[0], data
    typ, data = m.fetch("202", "(FLAGS BODY.PEEK[])")
    assert data[0][1] == note and b"\\Seen" in data[0][0]
    # a second COMPRESS
    typ, data = m._simple_command("COMPRESS", "DEFLATE")
    assert typ == "NO" and data[0].startswith(b"[COMPRESSIONACTIVE]"), data
    typ, data = m.search(None, "SUBJECT", "appended")
    assert data == [b"202"]
    m.logout()
    # the server logs the totals: wire/plain each way
    log = srv.wait_log_re(r"compress in=", count=logged + 1)
    stats = re.findall(r"compress in=(\d+)/(\d+) out=(\d+)/(\d+)", log)[logged:]
    assert any(int(o_w) < int(o_p) // 2 for _, _, o_w, o_p in stats), stats


def test_second_compress_is_refused(srv):
    user = fresh_user(srv)
    m = zlogin(srv, "imaps", user)
    m.start_compress()
    typ, data = m._simple_command("COMPRESS", "DEFLATE")
    assert (typ, data) == ("NO", [b"[COMPRESSIONACTIVE] DEFLATE active already"])
    assert m.noop()[0] == "OK"
    m.logout()


def test_refusals_before_compress(srv):
    c = RawImap(srv)
    _, done = c.command("COMPRESS DEFLATE")
    assert rest(done).startswith(b"BAD"), done          # before login
    c.login(fresh_user_same(srv))
    _, done = c.command("COMPRESS GZIP")
    assert rest(done).startswith(b"NO"), done
    _, done = c.command("COMPRESS")
    assert rest(done).startswith(b"BAD"), done
    u, done = c.command("NOOP")
    assert rest(done).startswith(b"OK")                 # still uncompressed
    caps = flat(c.command("CAPABILITY")[0])[0].split()
    assert b"COMPRESS=DEFLATE" in caps


def fresh_user_same(srv):
    return fresh_user(srv)


class ZRaw:
    """A raw client: plaintext until compress(), then raw DEFLATE."""

    def __init__(self, srv, mode):
        self.r = RawImap(srv, mode)
        self.zo = self.zi = None
        self.buf = b""

    def compress_start(self, pipelined=b""):
        """Send COMPRESS (and compressed bytes in the same write)."""
        self.zo = zlib.compressobj(wbits=-15)
        extra = b""
        if pipelined:
            extra = self.zo.compress(pipelined) + self.zo.flush(zlib.Z_SYNC_FLUSH)
        self.r.send(b"z1 COMPRESS DEFLATE\r\n" + extra)
        line = self.r.line()
        assert line == b"z1 OK DEFLATE active", line
        self.zi = zlib.decompressobj(wbits=-15)
        self.buf = self.zi.decompress(self.r.buf)
        self.r.buf = b""

    def send(self, data):
        self.r.send(self.zo.compress(data) + self.zo.flush(zlib.Z_SYNC_FLUSH))

    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.r.sock.recv(65536)
            if not chunk:
                raise EOFError(self.buf)
            self.buf += self.zi.decompress(chunk)
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def until(self, tag):
        lines = []
        while True:
            lines.append(self.line())
            if lines[-1].startswith(tag + b" "):
                return lines


@pytest.mark.parametrize("mode", MODES)
def test_pipelined_after_compress(srv, mode):
    z = ZRaw(srv, mode)
    z.r.login(fresh_user(srv))
    # the client compresses right after the command, before the OK
    z.compress_start(pipelined=b"z2 NOOP\r\nz3 CAPABILITY\r\n")
    assert z.until(b"z2") == [b"z2 OK NOOP completed"]
    lines = z.until(b"z3")
    assert b"COMPRESS=DEFLATE" in lines[0]
    # many commands in one compressed write, a long literal
    z.send(b"".join(b"p%d NOOP\r\n" % i for i in range(50)))
    for i in range(50):
        assert z.until(b"p%d" % i)[-1].startswith(b"p%d OK" % i)
    msg = b"Subject: z\r\n\r\n" + b"A" * 300000 + b"\r\n"
    z.send(b"a1 APPEND INBOX {%d+}\r\n" % len(msg) + msg + b"\r\n")
    assert b"OK [APPENDUID" in z.until(b"a1")[-1]


def test_corrupt_stream_closes(srv):
    z = ZRaw(srv, "imaps")
    z.r.login(fresh_user(srv))
    z.compress_start()
    z.r.send(b"\xff\xfe\xfd not deflate at all")
    z.r.sock.settimeout(10)
    data = b""
    try:
        while True:
            chunk = z.r.sock.recv(65536)
            if not chunk:
                break
            data += chunk
    except (ConnectionResetError, socket.timeout, OSError):
        pass
    srv.wait_log("error=\"inflate: invalid block type\"")
    # the server keeps serving
    c = RawImap(srv).login(fresh_user(srv))
    assert rest(c.command("NOOP")[1]).startswith(b"OK")


def test_inflate_bomb_is_bounded(srv):
    """A tiny compressed stream that inflates to megabytes without CRLF
    is cut at the line limit, not buffered."""
    z = ZRaw(srv, "imaps")
    z.r.login(fresh_user(srv))
    z.compress_start()
    bomb = zlib.compressobj(wbits=-15)
    z.zo = bomb
    z.send(b"x" * (8 * 1024 * 1024) + b"\r\nb1 NOOP\r\n")
    lines = z.until(b"b1")
    assert lines[0].endswith(b"BAD Line too long"), lines
    assert lines[-1] == b"b1 OK NOOP completed"
