"""BINARY (RFC 3516) over STARTTLS and IMAPS: FETCH BINARY[part]<partial>,
BINARY.PEEK and BINARY.SIZE with base64 and quoted-printable undone,
literal8 for data with NULs, [UNKNOWN-CTE], and APPEND of a literal8."""
import base64
import os
import quopri

import pytest

from imap_sel_util import MODES, RawImap, flat, imap_server, place, raw, rest

_users = [0]


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    s = imap_server(tmp_path_factory.mktemp("imapbinary"))
    yield s
    s.check_clean_exit()


def fresh_user(srv):
    _users[0] += 1
    user = f"bin{_users[0]}@example.test"
    srv.add_user(user)
    return user


LINES = ["Caf\u00e9 au lait, a long line that quoted-printable breaks softly " * 3,
         "=equals= and trailing", "end"]
TEXT = "\r\n".join(LINES) + "\r\n"     # what decoding gives back
BLOB = os.urandom(300000) + b"\x00\x00tail"         # more than fits in memory
SMALL = b"\x00\x01\x02 small binary \xff"


def b64_lines(data):
    enc = base64.b64encode(data)
    return b"\r\n".join(enc[i:i + 76] for i in range(0, len(enc), 76))


def message():
    # each line encoded (soft breaks "=CRLF" in long ones), hard breaks CRLF
    qp = b"\r\n".join(quopri.encodestring(line.encode()).rstrip(b"\n")
                       .replace(b"=\n", b"=\r\n") for line in LINES) + b"\r\n"
    return (b"From: a@example.org\r\nSubject: binary\r\nMIME-Version: 1.0\r\n"
            b"Content-Type: multipart/mixed; boundary=\"B\"\r\n\r\n"
            b"--B\r\nContent-Type: text/plain; charset=utf-8\r\n"
            b"Content-Transfer-Encoding: quoted-printable\r\n\r\n" + qp + b"\r\n"
            b"--B\r\nContent-Type: application/octet-stream\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\n" + b64_lines(BLOB) + b"\r\n"
            b"--B\r\nContent-Type: text/plain\r\n\r\nplain seven bit\r\n"
            b"--B\r\nContent-Type: application/octet-stream\r\n"
            b"Content-Transfer-Encoding: x-uuencode\r\n\r\nbegin 644 x\r\nend\r\n"
            b"--B\r\nContent-Type: application/octet-stream\r\n"
            b"Content-Transfer-Encoding: BASE64\r\n\r\n" + b64_lines(SMALL) + b"\r\n"
            b"--B--\r\n")


def literal_of(parts, name):
    """The literal that follows name in a response (parts from response())."""
    for i in range(0, len(parts) - 1, 2):
        if parts[i].endswith(b"}") and name in parts[i]:
            return parts[i + 1], parts[i]
    raise AssertionError((name, parts[0][:200]))


@pytest.mark.parametrize("mode", MODES)
def test_fetch_binary(srv, mode):
    user = fresh_user(srv)
    place(srv, message(), user=user)
    c = RawImap(srv, mode).login(user)
    c.command("SELECT INBOX")
    u, done = c.command("FETCH 1 (BINARY.SIZE[1] BINARY.SIZE[2] BINARY.SIZE[3] "
                        "BINARY.SIZE[5])")
    text = TEXT.encode()
    assert flat(u) == [b"* 1 FETCH (BINARY.SIZE[1] %d BINARY.SIZE[2] %d "
                       b"BINARY.SIZE[3] 15 BINARY.SIZE[5] %d)"
                       % (len(text), len(BLOB), len(SMALL))]
    # quoted-printable undone: no NUL, an ordinary literal
    u, _ = c.command("FETCH 1 BINARY.PEEK[1]")
    data, head = literal_of(u[0], b"BINARY[1]")
    assert data == text and head.endswith(b"BINARY[1] {%d}" % len(text))
    # base64 with NULs: a literal8, exact, streamed from a scratch file
    u, _ = c.command("FETCH 1 (UID BINARY.PEEK[2])")
    data, head = literal_of(u[0], b"BINARY[2]")
    assert head.endswith(b"BINARY[2] ~{%d}" % len(BLOB))
    assert data == BLOB
    assert raw(u[0]).endswith(b")")
    # partial ranges of the decoded bytes
    u, _ = c.command("FETCH 1 (BINARY.PEEK[2]<1000.5000> BINARY.PEEK[5]<2.7>)")
    d2, h2 = literal_of(u[0], b"BINARY[2]<1000>")
    d5, h5 = literal_of(u[0], b"BINARY[5]<2>")
    assert d2 == BLOB[1000:6000] and d5 == SMALL[2:9]
    u, _ = c.command("FETCH 1 BINARY.PEEK[2]<299990.100>")
    assert literal_of(u[0], b"BINARY[2]<299990>")[0] == BLOB[299990:]
    # no encoding: as stored; a missing part: NIL
    u, _ = c.command("FETCH 1 (BINARY.PEEK[3] BINARY.PEEK[9] BINARY.SIZE[9])")
    assert literal_of(u[0], b"BINARY[3]")[0] == b"plain seven bit"
    assert b"BINARY[9] NIL BINARY.SIZE[9] 0)" in raw(u[0])
    # unknown encoding: NO [UNKNOWN-CTE], nothing of that message
    u, done = c.command("FETCH 1 (FLAGS BINARY.PEEK[4])")
    assert u == [] and rest(done).startswith(b"NO [UNKNOWN-CTE]"), (u, done)
    _, done = c.command("FETCH 1 BINARY.SIZE[4]")
    assert rest(done).startswith(b"NO [UNKNOWN-CTE]")
    # BINARY (not PEEK) sets \Seen like BODY[]
    u, _ = c.command("FETCH 1 FLAGS")
    assert flat(u) == [b"* 1 FETCH (FLAGS (\\Recent))"]
    u, _ = c.command("FETCH 1 BINARY[5]")
    assert b"FLAGS (\\Seen \\Recent)" in raw(u[0])
    # syntax
    for bad in ("FETCH 1 BINARY[1.TEXT]", "FETCH 1 BINARY.SIZE[1]<0.1>",
                "FETCH 1 BINARY[1"):
        _, done = c.command(bad)
        assert rest(done).startswith(b"BAD"), (bad, done)
    caps = flat(c.command("CAPABILITY")[0])[0].split()
    assert b"BINARY" in caps
    c.command("LOGOUT")


@pytest.mark.parametrize("mode", MODES)
def test_append_literal8(srv, mode):
    user = fresh_user(srv)
    c = RawImap(srv, mode).login(user)
    msg = b"Subject: nul\r\nContent-Type: application/octet-stream\r\n\r\n" + \
        SMALL + b"\r\n"
    c.send(b"a1 APPEND INBOX ~{%d}\r\n" % len(msg))
    assert c.line().startswith(b"+")
    c.send(msg + b"\r\n")
    _, done = c.until("a1")
    assert b"OK [APPENDUID" in done, done
    c.send(b"a2 APPEND INBOX (\\Seen) ~{%d+}\r\n" % len(msg) + msg + b"\r\n")
    assert b"OK [APPENDUID" in c.until("a2")[1]
    # stored byte for byte; BINARY[] and BINARY[1] give it back as literal8
    names = os.listdir(os.path.join(srv.maildir(user), "cur"))
    assert [open(os.path.join(srv.maildir(user), "cur", n), "rb").read()
            for n in names] == [msg, msg]
    c.command("SELECT INBOX")
    u, _ = c.command("FETCH 1 (BINARY.PEEK[] BINARY.PEEK[1])")
    whole, head = literal_of(u[0], b"BINARY[]")
    assert whole == msg and head.endswith(b"~{%d}" % len(msg))
    assert literal_of(u[0], b"BINARY[1]")[0] == SMALL + b"\r\n"
    # a literal8 anywhere else is refused
    _, done = c.command("SEARCH SUBJECT ~{3}")
    assert rest(done).startswith(b"BAD"), done
    c.command("LOGOUT")
