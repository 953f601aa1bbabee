"""MULTIAPPEND (RFC 3502) over STARTTLS and IMAPS: several messages in one
APPEND with their own flags and dates, APPENDUID with a UID set, all or
nothing (a refused, broken or abandoned message leaves none of them)."""
import os
import socket
import time

import pytest

from imap_box_util import MODES, RawImap, check_no_crash, files, folder_dir
from mailserver import Server

USERS = {mode: f"multi-{mode}@example.test" for mode in MODES}


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    s = Server(tmp_path_factory.mktemp("imap-multiappend"),
               services=("smtp", "imap", "imaps"), users=tuple(USERS.values()),
               limits="max_message_size = 2000000")
    yield s
    check_no_crash(s)
    s.check_clean_exit()


def cur(srv, user, folder="INBOX"):
    d = os.path.join(folder_dir(srv, user, folder), "cur")
    return {n: open(os.path.join(d, n), "rb").read() for n in os.listdir(d)}


def nothing_new(srv, user, folder, before):
    deadline = time.time() + 10
    while files(srv, user, folder, "tmp") and time.time() < deadline:
        time.sleep(0.05)
    assert files(srv, user, folder, "tmp") == []
    assert set(cur(srv, user, folder)) == set(before)


MSG1 = (b"Date: Mon, 7 Feb 1994 21:52:25 -0800 (PST)\r\n"
        b"From: Fred Foobar <foobar@Blurdybloop.example.COM>\r\n"
        b"Subject: afternoon meeting\r\n"
        b"To: mooch@owatagu.example.net\r\n"
        b"Message-Id: <B27397-0100000@Blurdybloop.example.COM>\r\n"
        b"MIME-Version: 1.0\r\n"
        b"Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n\r\n"
        b"Hello Joe, do you think we can meet at 3:30 tomorrow?\r\n")
MSG2 = (b"Date: Mon, 7 Feb 1994 22:43:04 -0800 (PST)\r\n"
        b"From: Joe Mooch <mooch@OWaTaGu.example.net>\r\n"
        b"Subject: Re: afternoon meeting\r\n"
        b"To: foobar@Blurdybloop.example.COM\r\n"
        b"Message-Id: <a0434793874930@OWaTaGu.example.net>\r\n"
        b"MIME-Version: 1.0\r\n"
        b"Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n\r\n"
        b"3:30 is fine with me.\r\n")


@pytest.mark.parametrize("mode", MODES)
def test_rfc3502_example(srv, mode):
    user = USERS[mode]
    c = RawImap(srv, mode, user)
    tag, lines = c.cmd("CREATE saved-messages")
    tag, lines = c.cmd("CAPABILITY")
    assert b"MULTIAPPEND" in lines[0].split()
    # synchronising literals: "+" before each message
    c.send(b"A003 APPEND saved-messages (\\Seen) {%d}\r\n" % len(MSG1))
    assert c.line().startswith(b"+")
    c.send(MSG1 + b' (\\Seen) " 7-Feb-1994 22:43:04 -0800" {%d}\r\n' % len(MSG2))
    assert c.line().startswith(b"+")
    c.send(MSG2 + b"\r\n")
    line = c.line()
    assert line.startswith(b"A003 OK [APPENDUID "), line
    assert line.split()[4] == b"1:2]", line
    got = cur(srv, user, "saved-messages")
    by_content = {v: k for k, v in got.items()}
    assert set(by_content) == {MSG1, MSG2}
    assert by_content[MSG1].endswith(":2,S") and by_content[MSG2].endswith(":2,S")
    d = os.path.join(folder_dir(srv, user, "saved-messages"), "cur")
    assert os.stat(os.path.join(d, by_content[MSG2])).st_mtime == 760689784
    # to a missing mailbox: TRYCREATE before the first "+"
    c.send(b"A004 APPEND bogusname (\\Seen) {%d}\r\n" % len(MSG1))
    line = c.line()
    assert line.startswith(b"A004 NO [TRYCREATE]"), line
    tag, lines = c.cmd("SELECT saved-messages")
    assert b"* 2 EXISTS" in lines
    tag, lines = c.cmd("FETCH 1:2 (FLAGS INTERNALDATE UID)")
    # appended: \Recent for the session that selects the folder first
    assert lines[1] == (b'* 2 FETCH (FLAGS (\\Seen \\Recent) INTERNALDATE '
                        b'"08-Feb-1994 06:43:04 +0000" UID 2)')
    c.close()


@pytest.mark.parametrize("mode", MODES)
def test_nonsync_many_and_large(srv, mode):
    user = USERS[mode]
    c = RawImap(srv, mode, user)
    c.cmd("CREATE bulk")
    msgs = [b"Subject: %d\r\n\r\n" % i + os.urandom(200 + 50000 * i).hex().encode()
            + b"\r\n" for i in range(5)]
    data = b"m1 APPEND bulk"
    for i, m in enumerate(msgs):
        data += b" (\\Flagged kw%d) {%d+}\r\n" % (i, len(m)) + m
    c.send(data + b"\r\n")
    line = c.line()
    assert line.startswith(b"m1 OK [APPENDUID "), line
    assert line.split()[4] == b"1:5]"
    got = cur(srv, user, "bulk")
    assert sorted(got.values()) == sorted(msgs)
    tag, lines = c.cmd("SELECT bulk")
    tag, lines = c.cmd("UID FETCH 1:5 (FLAGS RFC822.SIZE)")
    for i in range(5):
        assert lines[i] == (b"* %d FETCH (UID %d FLAGS (\\Flagged \\Recent kw%d) "
                            b"RFC822.SIZE %d)" % (i + 1, i + 1, i, len(msgs[i])))
    # a second one continues the UIDs
    c.send(b"m2 APPEND bulk {3+}\r\nabc {3+}\r\ndef\r\n")
    lines = c.until_tagged(b"m2")
    assert b"* 7 EXISTS" in lines, lines
    assert lines[-1].split()[4] == b"6:7]"
    c.close()


@pytest.mark.parametrize("mode", MODES)
def test_all_or_nothing(srv, mode):
    user = USERS[mode]
    c = RawImap(srv, mode, user)
    before = cur(srv, user)
    big = 2000001
    cases = [
        # the second message is too big: NO [TOOBIG], the first is gone too
        (b"n1 APPEND INBOX {3+}\r\nabc {%d}\r\n" % big, b"n1 NO [TOOBIG]"),
        # an empty second message
        (b"n2 APPEND INBOX {3+}\r\nabc {0+}\r\n\r\n", b"n2 NO [CANNOT]"),
        # junk after the last message
        (b"n3 APPEND INBOX {3+}\r\nabc {3+}\r\ndef junk\r\n", b"n3 BAD"),
        # flags of a message without its literal
        (b"n4 APPEND INBOX {3+}\r\nabc (\\Seen)\r\n", b"n4 BAD"),
        # a bad date for the third
        (b"n5 APPEND INBOX {1+}\r\na {1+}\r\nb \"yesterday\" {1+}\r\nc\r\n",
         b"n5 BAD Invalid date-time"),
        # a bad flag for the second
        (b"n6 APPEND INBOX {1+}\r\na (\\Recent) {1+}\r\nb\r\n", b"n6 BAD"),
    ]
    for data, want in cases:
        c.send(data)
        line = c.line()
        assert line.startswith(want), (data, line)
    tag, lines = c.cmd("NOOP")
    assert lines[-1] == tag + b" OK NOOP completed"
    nothing_new(srv, user, "INBOX", before)
    # the client goes away in the middle of the third message
    c.send(b"g1 APPEND INBOX {100+}\r\n" + b"x" * 100 + b" {100+}\r\n" + b"y" * 100
           + b" {1000000+}\r\n" + b"z" * 300000)
    deadline = time.time() + 10
    while len(files(srv, user, "INBOX", "tmp")) < 3 and time.time() < deadline:
        time.sleep(0.02)
    assert len(files(srv, user, "INBOX", "tmp")) == 3
    c.raw.sock.shutdown(socket.SHUT_RDWR)
    c.close()
    nothing_new(srv, user, "INBOX", before)
