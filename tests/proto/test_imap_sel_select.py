"""IMAP selected state: SELECT/EXAMINE answers, read-only behaviour,
CLOSE/UNSELECT/EXPUNGE, commands in the wrong state, UIDs and UIDVALIDITY
across a server restart."""
import os
import re

import pytest

from imap_sel_util import (ALICE, MODES, RawImap, deliver, flat, imap_server,
                           login, place, rest, simple_message)

_users = [0]


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    s = imap_server(tmp_path_factory.mktemp("imapsel"))
    yield s
    s.check_clean_exit()


def fresh_user(srv):
    _users[0] += 1
    user = f"sel{_users[0]}@example.test"
    srv.add_user(user)
    return user


def make_folder(srv, user, name):
    path = srv.maildir(user, name)
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(path, sub), exist_ok=True)
    open(os.path.join(path, "maildirfolder"), "w").close()


@pytest.mark.parametrize("mode", MODES)
def test_select_answer(srv, mode):
    user = fresh_user(srv)
    c = RawImap(srv, mode).login(user)      # creates the Maildir
    deliver(srv, simple_message("first"), rcpt=user)
    deliver(srv, simple_message("second"), rcpt=user)
    place(srv, simple_message("seen one"), user=user, info=":2,S")
    u, done = c.command("SELECT INBOX")
    lines = [x.decode() for x in flat(u)]
    assert lines[0] == "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)"
    assert lines[1].startswith("* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted "
                               "\\Seen \\Draft \\*)]")
    assert "* 3 EXISTS" in lines
    assert "* 3 RECENT" in lines          # new UIDs, delivered or placed in cur/
    assert any(re.fullmatch(r"\* OK \[UIDVALIDITY \d+\] .*", x) for x in lines)
    assert any(x.startswith("* OK [UIDNEXT 4]") for x in lines)
    assert rest(done) == b"OK [READ-WRITE] Select completed"
    # UNSEEN names the first message without \Seen
    u, _ = c.command("FETCH 1:* FLAGS")
    first = [i for i, x in enumerate(flat(u), 1) if b"\\Seen" not in x][0]
    assert f"* OK [UNSEEN {first}] First unseen." in lines
    # a second session does not see them as recent any more
    c2 = RawImap(srv, mode).login(user)
    u, done = c2.command("EXAMINE INBOX")
    lines = [x.decode() for x in flat(u)]
    assert "* 0 RECENT" in lines and "* 3 EXISTS" in lines
    assert "* OK [PERMANENTFLAGS ()] Read-only mailbox." in lines
    assert done.endswith(b"OK [READ-ONLY] Examine completed")
    c.command("LOGOUT")
    c2.command("LOGOUT")


def test_examine_is_read_only(srv):
    user = fresh_user(srv)
    c = RawImap(srv).login(user)
    deliver(srv, simple_message("ro"), rcpt=user)
    c.command("EXAMINE INBOX")
    u, done = c.command("FETCH 1 (BODY[TEXT] FLAGS)")
    assert b"\\Seen" not in b"".join(flat(u))       # no implicit \Seen
    _, done = c.command("STORE 1 +FLAGS (\\Deleted)")
    assert rest(done) == b"NO [READ-ONLY] Mailbox is read-only"
    _, done = c.command("EXPUNGE")
    assert rest(done).startswith(b"NO [READ-ONLY]")
    _, done = c.command("MOVE 1 INBOX")
    assert rest(done).startswith(b"NO [READ-ONLY]")
    _, done = c.command("COPY 1 INBOX")             # copying out is fine
    assert rest(done).startswith(b"OK [COPYUID ")
    _, done = c.command("CLOSE")
    assert rest(done) == b"OK Close completed"
    c.command("SELECT INBOX")
    u, _ = c.command("FETCH 1:* FLAGS")
    assert all(b"\\Seen" not in x for x in flat(u)) and len(u) == 2


def test_select_missing_and_reselect(srv):
    user = fresh_user(srv)
    make_folder(srv, user, "Work")
    c = RawImap(srv).login(user)
    place(srv, simple_message("w"), user=user, folder="Work", info=":2,T")
    _, done = c.command("SELECT Work")
    assert done.endswith(b"OK [READ-WRITE] Select completed")
    # selecting another mailbox closes this one without expunging
    u, done = c.command("SELECT Nope")
    assert rest(done) == b"NO [NONEXISTENT] Mailbox doesn't exist: Nope"
    _, done = c.command("FETCH 1 FLAGS")            # no mailbox selected now
    assert rest(done).startswith(b"BAD") and b"without a selected mailbox" in done
    u, done = c.command("SELECT Work")
    assert b"* 1 EXISTS" in flat(u)
    _, done = c.command('SELECT "bad..name"')
    assert rest(done).startswith(b"NO [NONEXISTENT]")
    _, done = c.command("SELECT")
    assert rest(done).startswith(b"BAD")


def test_close_unselect_expunge(srv):
    user = fresh_user(srv)
    c = RawImap(srv, "starttls").login(user)
    for i in range(4):
        place(srv, simple_message(f"m{i}"), user=user, info=":2,T" if i % 2 else ":2,")
    c.command("SELECT INBOX")
    _, done = c.command("UNSELECT")
    assert rest(done) == b"OK Unselect completed"
    u, _ = c.command("SELECT INBOX")
    assert b"* 4 EXISTS" in flat(u)                 # UNSELECT expunged nothing
    u, done = c.command("EXPUNGE")
    assert flat(u) == [b"* 4 EXPUNGE", b"* 2 EXPUNGE"]  # highest first
    assert rest(done) == b"OK Expunge completed"
    c.command("STORE 1 +FLAGS.SILENT (\\Deleted)")
    u, done = c.command("CLOSE")
    assert u == [] and rest(done) == b"OK Close completed"    # silently
    u, _ = c.command("SELECT INBOX")
    assert b"* 1 EXISTS" in flat(u)
    _, done = c.command("CHECK")
    assert rest(done) == b"OK Check completed"
    _, done = c.command("CLOSE extra")
    assert rest(done).startswith(b"BAD")


def test_uid_expunge(srv):
    user = fresh_user(srv)
    c = RawImap(srv).login(user)
    for i in range(3):
        place(srv, simple_message(f"u{i}"), user=user, info=":2,T")
    c.command("SELECT INBOX")
    u, _ = c.command("UID FETCH 1:* UID")
    uids = [int(re.search(rb"UID (\d+)", x).group(1)) for x in flat(u)]
    u, done = c.command(f"UID EXPUNGE {uids[1]}")
    assert flat(u) == [b"* 2 EXPUNGE"] and done.endswith(b"OK Expunge completed")
    _, done = c.command("UID EXPUNGE")
    assert rest(done).startswith(b"BAD")


def test_wrong_state_and_bad_sets(srv):
    c = RawImap(srv).login()
    for cmd in ("FETCH 1 FLAGS", "STORE 1 FLAGS ()", "SEARCH ALL", "EXPUNGE",
                "CLOSE", "UNSELECT", "COPY 1 INBOX", "UID FETCH 1 FLAGS", "CHECK"):
        _, done = c.command(cmd)
        assert b" BAD " in done and b"without a selected mailbox" in done, (cmd, done)
    deliver(srv, simple_message("x"))
    u, _ = c.command("SELECT INBOX")
    n = int([x for x in flat(u) if x.endswith(b"EXISTS")][0].split()[1])
    for cmd in (f"FETCH {n + 1} FLAGS", f"FETCH 1:{n + 5} FLAGS", "FETCH 0 FLAGS",
                "FETCH a:b FLAGS", "FETCH 1,,2 FLAGS", "FETCH 1 (FLAGS", "FETCH 1",
                "FETCH 1 BOGUS", "FETCH 1 BODY[1.MIME.X]", "FETCH 1 BODY[]<1>",
                "FETCH 1 (FLAGS) extra", f"STORE {n + 1} +FLAGS (\\Seen)",
                "STORE 1 +FLAGS (\\Recent)", "STORE 1 FROB (\\Seen)",
                "STORE 1 +FLAGS (\\Bogus)", "COPY 1", "SEARCH BOGUS", "SEARCH",
                "IDLE now", "UID BOGUS 1", f"COPY {n + 2} INBOX"):
        if c.tagno % 15 == 0:           # 20 BADs end a session
            c.command("LOGOUT")
            c = RawImap(srv).login()
            c.command("SELECT INBOX")
        _, done = c.command(cmd)
        assert done.split()[1] == b"BAD", (cmd, done)
    # UID sets match what exists, never BAD
    u, done = c.command("UID FETCH 4000000000 FLAGS")
    assert u == [] and done.endswith(b"OK Fetch completed")
    u, done = c.command("UID FETCH 999:* UID")      # "*" is the highest UID
    assert len(u) == 1 and done.endswith(b"OK Fetch completed")
    c.command("LOGOUT")


def test_uids_survive_restart(tmp_path):
    s = imap_server(tmp_path, users=(ALICE,))
    for i in range(3):
        deliver(s, simple_message(f"r{i}"))
    m = login(s, "imaps")
    typ, data = m.select("INBOX")
    typ, resp = m.response("UIDVALIDITY")
    validity = resp[0]
    m.store("2", "+FLAGS", "(\\Flagged)")
    typ, data = m.uid("FETCH", "1:*", "(UID FLAGS)")
    before = [x for x in data]
    m.logout()
    s.stop()
    s.start()
    m = login(s, "starttls")
    m.select("INBOX")
    typ, resp = m.response("UIDVALIDITY")
    assert resp[0] == validity
    typ, data = m.uid("FETCH", "1:*", "(UID FLAGS)")
    assert [x.replace(b" \\Recent", b"").replace(b"\\Recent", b"") for x in data] == \
        [x.replace(b" \\Recent", b"").replace(b"\\Recent", b"") for x in before]
    assert b"\\Flagged" in data[1]
    m.logout()
    s.check_clean_exit()
