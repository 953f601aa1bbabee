"""IMAP COPY/MOVE with COPYUID and TRYCREATE, EXPUNGE seen by a second
session (and held back while FETCH/STORE/SEARCH run), IDLE woken by an SMTP
delivery and by other sessions, IDLE's end and timeout."""
import os
import re
import time

import pytest

from imap_sel_util import (MODES, RawImap, deliver, flat, imap_server, login, place,
                           raw, rest, simple_message)

_users = [0]


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    s = imap_server(tmp_path_factory.mktemp("imapcopy"))
    yield s
    s.check_clean_exit()


def fresh_user(srv):
    _users[0] += 1
    user = f"copy{_users[0]}@example.test"
    srv.add_user(user)
    return user


def make_folder(srv, user, name):
    path = srv.maildir(user, name)
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(path, sub), exist_ok=True)
    open(os.path.join(path, "maildirfolder"), "w").close()


def uidvalidity(untagged):
    for x in flat(untagged):
        m = re.search(rb"\[UIDVALIDITY (\d+)\]", x)
        if m:
            return int(m.group(1))
    raise AssertionError(untagged)


@pytest.mark.parametrize("mode", MODES)
def test_copy_with_copyuid(srv, mode):
    user = fresh_user(srv)
    make_folder(srv, user, "Archive")
    c = RawImap(srv, mode).login(user)
    for i in range(3):
        place(srv, simple_message(f"c{i}"), user=user, mtime=1700000000 + i)
    c.command("SELECT INBOX")
    c.command("STORE 2 +FLAGS (\\Flagged Travel)")
    _, done = c.command("COPY 2:3 Archive")
    m = re.fullmatch(rb"OK \[COPYUID (\d+) 2:3 1:2\] Copy completed", rest(done))
    assert m, done
    _, done = c.command("UID COPY 1 Archive")
    assert re.fullmatch(rb"OK \[COPYUID \d+ 1 3\] Copy completed", rest(done))
    _, done = c.command("COPY 1 Nowhere")
    assert rest(done) == b"NO [TRYCREATE] Mailbox doesn't exist"
    _, done = c.command("UID COPY 999 Archive")           # no such UID: nothing to do
    assert rest(done) == b"OK No messages found"
    u, done = c.command("SELECT Archive")
    assert uidvalidity(u) == int(m.group(1)) and b"* 3 EXISTS" in flat(u)
    u, _ = c.command("FETCH 1:3 (UID FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    # Copied: \Recent for the first SELECT of Archive.
    assert [raw(x) for x in u] == [
        b"* 1 FETCH (UID 1 FLAGS (\\Flagged \\Recent Travel) BODY[HEADER.FIELDS (SUBJECT)] "
        b"{15}\r\nSubject: c1\r\n\r\n)",
        b"* 2 FETCH (UID 2 FLAGS (\\Recent) BODY[HEADER.FIELDS (SUBJECT)] {15}\r\n"
        b"Subject: c2\r\n\r\n)",
        b"* 3 FETCH (UID 3 FLAGS (\\Recent) BODY[HEADER.FIELDS (SUBJECT)] {15}\r\n"
        b"Subject: c0\r\n\r\n)"]
    c.command("LOGOUT")


@pytest.mark.parametrize("mode", MODES)
def test_move(srv, mode):
    user = fresh_user(srv)
    make_folder(srv, user, "Done")
    c = RawImap(srv, mode).login(user)
    for i in range(4):
        place(srv, simple_message(f"mv{i}"), user=user, mtime=1700000000 + i)
    c.command("SELECT INBOX")
    u, done = c.command("MOVE 2,4 Done")
    assert [raw(x) for x in u] == [b"* OK [COPYUID %s 2,4 1:2] Moved UIDs."
                                   % re.search(rb"COPYUID (\d+)", raw(u[0])).group(1),
                                   b"* 4 EXPUNGE", b"* 2 EXPUNGE"]
    assert rest(done) == b"OK Move completed"
    u, done = c.command("UID MOVE 3 Done")
    assert [raw(x)[:24] for x in u] == [b"* OK [COPYUID ", b"* 2 EXPUNGE"] or \
        (raw(u[0]).startswith(b"* OK [COPYUID ") and raw(u[1]) == b"* 2 EXPUNGE")
    _, done = c.command("MOVE 1 Nowhere")
    assert rest(done) == b"NO [TRYCREATE] Mailbox doesn't exist"
    u, _ = c.command("FETCH 1:* UID")
    assert flat(u) == [b"* 1 FETCH (UID 1)"]
    # imaplib: the destination
    m = login(srv, "imaps", user)
    typ, data = m.select("Done")
    assert data == [b"3"]
    m.logout()


@pytest.mark.parametrize("mode", MODES)
def test_expunge_seen_by_second_session(srv, mode):
    user = fresh_user(srv)
    for i in range(4):
        place(srv, simple_message(f"e{i}"), user=user, mtime=1700000000 + i)
    a = RawImap(srv, mode).login(user)
    b = RawImap(srv, mode).login(user)
    a.command("SELECT INBOX")
    b.command("SELECT INBOX")
    a.command("STORE 2 +FLAGS.SILENT (\\Deleted)")
    u, _ = a.command("EXPUNGE")
    assert flat(u) == [b"* 2 EXPUNGE"]
    # FETCH, STORE and SEARCH may not announce it: numbers stay as they were
    u, done = b.command("FETCH 2:3 (UID FLAGS)")
    assert flat(u) == [b"* 2 FETCH (UID 2 FLAGS ())", b"* 3 FETCH (UID 3 FLAGS ())"]
    u, done = b.command("FETCH 2 BODY.PEEK[]")
    assert u == [] and rest(done) == b"NO [EXPUNGEISSUED] Some of the requested " \
                                     b"messages no longer exist"
    # STORE stores to the rest and says OK, as Dovecot does (RFC 2180 4.2
    # allows either): a client saving flags is not told it failed
    u, done = b.command("STORE 2:3 +FLAGS (\\Seen)")
    assert flat(u) == [b"* 3 FETCH (FLAGS (\\Seen))"]
    assert rest(done) == b"OK Store completed"
    u, done = b.command("SEARCH ALL")
    assert flat(u) == [b"* SEARCH 1 3 4"]
    # UID commands: an expunged UID simply is not there; then they announce it
    u, done = b.command("UID STORE 2 +FLAGS (\\Seen)")
    assert flat(u) == [b"* 2 EXPUNGE"] and rest(done) == b"OK Store completed"
    u, _ = b.command("FETCH 1:* UID")
    assert flat(u) == [b"* 1 FETCH (UID 1)", b"* 2 FETCH (UID 3)", b"* 3 FETCH (UID 4)"]
    # COPY is all or nothing, and may announce
    a.command("STORE 1 +FLAGS.SILENT (\\Deleted)")
    a.command("EXPUNGE")
    u, done = b.command("COPY 1:2 INBOX")
    assert rest(done).startswith(b"NO [EXPUNGEISSUED]")
    assert flat(u) == [b"* 1 EXPUNGE"]
    u, _ = b.command("NOOP")
    assert u == []
    # UID FETCH: answers from the view as it was (a message expunged since
    # the last look still has its flags), then the EXPUNGE
    a.command("STORE 1 +FLAGS.SILENT (\\Deleted)")
    a.command("EXPUNGE")
    u, done = b.command("UID FETCH 1:* FLAGS")
    assert flat(u) == [b"* 1 FETCH (UID 3 FLAGS (\\Seen))",
                       b"* 2 FETCH (UID 4 FLAGS ())", b"* 1 EXPUNGE"]
    assert rest(done) == b"OK Fetch completed"
    a.command("LOGOUT")
    b.command("LOGOUT")


def wait_lines(c, n, timeout):
    c.sock.settimeout(timeout)
    try:
        return [c.line() for _ in range(n)]
    finally:
        c.sock.settimeout(20)


@pytest.mark.parametrize("mode", MODES)
def test_idle_woken_by_delivery(srv, mode):
    user = fresh_user(srv)
    c = RawImap(srv, mode).login(user)
    deliver(srv, simple_message("before"), rcpt=user)
    c.command("SELECT INBOX")
    c.send(b"i1 IDLE\r\n")
    assert c.line() == b"+ idling"
    t0 = time.time()
    deliver(srv, simple_message("while idling"), rcpt=user)
    lines = wait_lines(c, 2, 2.0)
    elapsed = time.time() - t0
    assert lines == [b"* 2 EXISTS", b"* 2 RECENT"], lines
    assert elapsed < 2.0
    # another session changes flags and expunges
    other = RawImap(srv, "imaps").login(user)
    other.command("SELECT INBOX")
    other.command("STORE 1 +FLAGS (\\Deleted)")
    assert wait_lines(c, 1, 2.0) == [b"* 1 FETCH (FLAGS (\\Deleted \\Recent))"]
    other.command("EXPUNGE")
    assert wait_lines(c, 1, 2.0) == [b"* 1 EXPUNGE"]
    c.send(b"DONE\r\n")
    u, done = c.until("i1")
    assert u == [] and rest(done) == b"OK Idle completed"
    u, _ = c.command("FETCH 1 BODY.PEEK[HEADER.FIELDS (SUBJECT)]")
    assert b"Subject: while idling" in raw(u[0])
    other.command("LOGOUT")
    c.command("LOGOUT")


def test_idle_end_and_states(srv):
    user = fresh_user(srv)
    c = RawImap(srv).login(user)
    c.send(b"a IDLE\r\n")                       # authenticated state: allowed
    assert c.line() == b"+ idling"
    c.send(b"DONE\r\n")
    assert c.line() == b"a OK Idle completed"
    c.command("SELECT INBOX")
    c.send(b"b IDLE\r\n")
    assert c.line() == b"+ idling"
    c.send(b"NOOP\r\n")                         # anything but DONE
    assert c.line() == b"b BAD Expected DONE"
    _, done = c.command("NOOP")                 # the session goes on
    assert rest(done) == b"OK NOOP completed"
    c.send(b"c IDLE\r\n")
    assert c.line() == b"+ idling"
    c.send(b"done\r\n")
    assert c.line() == b"c OK Idle completed"
    m = login(srv, "starttls", user)            # imaplib's own IDLE-less path
    m.select("INBOX")
    m.logout()


def test_idle_timeout(tmp_path):
    """An idling client is kept for imap_timeout, output to it or not;
    then BYE."""
    s = imap_server(tmp_path, limits="imap_timeout = 6")
    c = RawImap(s, "imaps").login()
    c.command("SELECT INBOX")
    c.send(b"i IDLE\r\n")
    assert c.line() == b"+ idling"
    t0 = time.time()
    time.sleep(2)
    deliver(s, simple_message("keeps it busy"))
    assert wait_lines(c, 2, 3) == [b"* 1 EXISTS", b"* 1 RECENT"]
    line = wait_lines(c, 1, 10)[0]
    assert line == b"* BYE Disconnected for inactivity"
    assert 5.5 <= time.time() - t0 < 9
    s.check_clean_exit()


def test_append_reaches_selected_and_idling_sessions(srv):
    """APPEND (another session's or our own) shows up as EXISTS at once."""
    user = fresh_user(srv)
    idler = RawImap(srv, "starttls").login(user)
    idler.command("SELECT INBOX")
    idler.send(b"i IDLE\r\n")
    assert idler.line() == b"+ idling"
    c = RawImap(srv, "imaps").login(user)
    c.command("SELECT INBOX")
    msg = simple_message("appended")
    c.send(b"a APPEND INBOX (\\Seen) {%d}\r\n" % len(msg))
    assert c.line().startswith(b"+")
    c.send(msg + b"\r\n")
    u, done = c.until("a")
    assert b"* 1 EXISTS" in flat(u) and rest(done).startswith(b"OK [APPENDUID ")
    # \Recent goes to the one session whose sync saw it first.
    taken = b"* 1 RECENT" in flat(u)
    assert taken or b"* 0 RECENT" in flat(u)
    assert wait_lines(idler, 1, 2.0) == [b"* 1 EXISTS"]
    assert wait_lines(idler, 1, 2.0) == [b"* 0 RECENT" if taken else b"* 1 RECENT"]
    idler.send(b"DONE\r\n")
    idler.until("i")
    u, _ = idler.command("FETCH 1 (FLAGS BODY.PEEK[])")
    flags = b"\\Seen" if taken else b"\\Seen \\Recent"
    assert u[0][0] == b"* 1 FETCH (FLAGS (%s) BODY[] {%d}" % (flags, len(msg))
    assert u[0][1] == msg
