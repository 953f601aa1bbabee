"""EXAMINE changes nothing (RFC 3501 6.3.2): mail in new/ is shown (with
UIDs, bodies, \\Recent) but stays in new/, also when it arrives during
IDLE or NOOP; the next SELECT still gets it \\Recent with the same UIDs;
STATUS agrees throughout."""
import os
import re
import time

import pytest

from imap_sel_util import (MODES, RawImap, deliver, flat, imap_server, place,
                           raw, rest, simple_message)

_users = [0]


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    s = imap_server(tmp_path_factory.mktemp("imapexamine"))
    yield s
    s.check_clean_exit()


def fresh_user(srv):
    _users[0] += 1
    user = f"ex{_users[0]}@example.test"
    srv.add_user(user)
    RawImap(srv).login(user).command("LOGOUT")      # creates the Maildir
    return user


def listing(srv, user, sub):
    return sorted(os.listdir(os.path.join(srv.maildir(user), sub)))


def uid_flags(c, seqs="1:*"):
    """{uid: flags bytes} of FETCH (UID FLAGS)."""
    u, done = c.command(f"FETCH {seqs} (UID FLAGS)")
    assert rest(done) == b"OK Fetch completed", done
    out = {}
    for line in flat(u):
        m = re.fullmatch(rb"\* \d+ FETCH \(UID (\d+) FLAGS \((.*)\)\)", line)
        assert m, line
        out[int(m.group(1))] = m.group(2)
    return out


def status(c, name="INBOX"):
    u, done = c.command(f"STATUS {name} (MESSAGES RECENT UIDNEXT UNSEEN)")
    assert rest(done) == b"OK Status completed", done
    m = re.fullmatch(rb"\* STATUS \S+ \((.*)\)", flat(u)[0])
    words = m.group(1).split()
    return {words[i].decode(): int(words[i + 1]) for i in range(0, len(words), 2)}


def lines_of(u):
    return [x.decode() for x in flat(u)]


@pytest.mark.parametrize("mode", MODES)
def test_examine_leaves_new_then_select_gets_recent(srv, mode):
    user = fresh_user(srv)
    deliver(srv, simple_message("one"), rcpt=user)
    deliver(srv, simple_message("two"), rcpt=user)
    stored = srv.messages(user)
    new_files = listing(srv, user, "new")
    assert len(new_files) == 2 and listing(srv, user, "cur") == []

    ex = RawImap(srv, mode).login(user)
    u, done = ex.command("EXAMINE INBOX")
    lines = lines_of(u)
    assert "* 2 EXISTS" in lines and "* 2 RECENT" in lines
    assert any(x.startswith("* OK [UIDNEXT 3]") for x in lines)
    assert done.endswith(b"OK [READ-ONLY] Examine completed")
    assert uid_flags(ex) == {1: b"\\Recent", 2: b"\\Recent"}
    u, done = ex.command("FETCH 2 BODY[]")          # BODY[] sets no \Seen here
    assert rest(done) == b"OK Fetch completed"
    assert u[0][1] in stored and b"\\Seen" not in raw(u[0])
    first = [m for m in stored if m != u[0][1]][0]
    _, done = ex.command("NOOP")
    assert listing(srv, user, "new") == new_files   # nothing moved
    assert listing(srv, user, "cur") == []

    # STATUS from elsewhere still sees them as new.
    other = RawImap(srv, mode).login(user)
    assert status(other) == {"MESSAGES": 2, "RECENT": 2, "UIDNEXT": 3, "UNSEEN": 2}

    # The next SELECT is the session that gets them \Recent, same UIDs.
    u, done = other.command("SELECT INBOX")
    lines = lines_of(u)
    assert "* 2 EXISTS" in lines and "* 2 RECENT" in lines
    assert any(x.startswith("* OK [UIDNEXT 3]") for x in lines)
    assert rest(done) == b"OK [READ-WRITE] Select completed"
    assert uid_flags(other) == {1: b"\\Recent", 2: b"\\Recent"}
    assert listing(srv, user, "new") == []
    assert len(listing(srv, user, "cur")) == 2

    # The EXAMINE session's snapshot still names new/: its FETCH finds the
    # moved file, and the flags it was told stay (no updates to send).
    u, done = ex.command("FETCH 1 (UID BODY.PEEK[])")
    assert rest(done) == b"OK Fetch completed"
    assert u[0][0] == b"* 1 FETCH (UID 1 BODY[] {%d}" % len(first)
    assert u[0][1] == first and len(u) == 1
    assert uid_flags(ex) == {1: b"\\Recent", 2: b"\\Recent"}
    assert status(other)["RECENT"] == 0
    ex.command("LOGOUT")
    other.command("LOGOUT")


def wait_lines(c, n, timeout):
    c.sock.settimeout(timeout)
    try:
        return [c.line() for _ in range(n)]
    finally:
        c.sock.settimeout(20)


def test_examine_idle_sees_delivery_without_moving_it(srv):
    user = fresh_user(srv)
    deliver(srv, simple_message("before"), rcpt=user)
    ex = RawImap(srv).login(user)
    u, _ = ex.command("EXAMINE INBOX")
    assert "* 1 RECENT" in lines_of(u)
    ex.send(b"i1 IDLE\r\n")
    assert ex.line() == b"+ idling"
    t0 = time.time()
    deliver(srv, simple_message("while idling"), rcpt=user)
    assert wait_lines(ex, 2, 2.0) == [b"* 2 EXISTS", b"* 2 RECENT"]
    assert time.time() - t0 < 2.0
    ex.send(b"DONE\r\n")
    u, done = ex.until("i1")
    assert u == [] and rest(done) == b"OK Idle completed"
    assert len(listing(srv, user, "new")) == 2 and listing(srv, user, "cur") == []
    u, _ = ex.command("FETCH 2 (UID BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert u[0][0].startswith(b"* 2 FETCH (UID 2 ")
    assert b"Subject: while idling" in raw(u[0])

    # A file another program put into new/ (LF-only lines) during NOOP.
    place(srv, b"Subject: from mutt\n\nline\n", user=user, sub="new")
    u, _ = ex.command("NOOP")
    assert lines_of(u) == ["* 3 EXISTS", "* 3 RECENT"]
    u, _ = ex.command("FETCH 3 (RFC822.SIZE BODY.PEEK[])")
    assert u[0][1] == b"Subject: from mutt\r\n\r\nline\r\n"
    assert b"RFC822.SIZE 28 " in u[0][0]
    assert len(listing(srv, user, "new")) == 3

    other = RawImap(srv).login(user)
    assert status(other) == {"MESSAGES": 3, "RECENT": 3, "UIDNEXT": 4, "UNSEEN": 3}
    u, _ = other.command("SELECT INBOX")
    assert "* 3 RECENT" in lines_of(u)
    assert uid_flags(other) == {1: b"\\Recent", 2: b"\\Recent", 3: b"\\Recent"}
    assert listing(srv, user, "new") == []
    # The idling EXAMINE session sees the move as no change at all.
    ex.send(b"i2 IDLE\r\n")
    assert ex.line() == b"+ idling"
    ex.send(b"DONE\r\n")
    u, done = ex.until("i2")
    assert u == [] and rest(done) == b"OK Idle completed"
    ex.command("LOGOUT")
    other.command("LOGOUT")


def test_examine_after_select_and_copy_from_new(srv):
    """Once SELECT took \\Recent, EXAMINE shows none; COPY out of an
    EXAMINEd mailbox copies a message still in new/ and leaves it there."""
    user = fresh_user(srv)
    deliver(srv, simple_message("copied"), rcpt=user)
    ex = RawImap(srv).login(user)
    ex.command("EXAMINE INBOX")
    _, done = ex.command("CREATE Keep")
    assert rest(done).startswith(b"OK")
    _, done = ex.command("COPY 1 Keep")
    assert rest(done).startswith(b"OK [COPYUID ")
    assert len(listing(srv, user, "new")) == 1
    u, _ = ex.command("STATUS Keep (MESSAGES RECENT)")
    assert flat(u) == [b"* STATUS Keep (MESSAGES 1 RECENT 1)"]    # copied: recent
    u, _ = ex.command("SELECT INBOX")
    assert "* 1 RECENT" in lines_of(u)
    u, _ = ex.command("EXAMINE INBOX")
    assert "* 0 RECENT" in lines_of(u) and "* 1 EXISTS" in lines_of(u)
    ex.command("LOGOUT")
