"""QRESYNC (RFC 7162 3.2), after the RFC's examples: VANISHED instead of
EXPUNGE, EXPUNGE's [HIGHESTMODSEQ], SELECT (QRESYNC (...)) resyncing what
two other sessions changed (flags, expunges, new mail), UID FETCH
(CHANGEDSINCE n VANISHED), the answer when the log of expunges does not
reach back (with seq-match-data), [CLOSED], and the rule that a client is
never told a HIGHESTMODSEQ past an expunge it has not heard of. Every case
over STARTTLS and IMAPS."""
import os
import re

import pytest

from imap_sel_util import (MODES, RawImap, flat, imap_server, rest, simple_message)

_users = [0]


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    s = imap_server(tmp_path_factory.mktemp("qresync"))
    yield s
    s.check_clean_exit()


def fresh_user(srv, n_messages=0):
    _users[0] += 1
    user = f"qr{_users[0]}@example.test"
    srv.add_user(user)
    c = RawImap(srv).login(user)
    append(c, n_messages)
    c.command("SELECT INBOX")                          # takes \Recent
    c.command("LOGOUT")
    return user


def append(c, n, folder="INBOX"):
    for i in range(n):
        msg = simple_message(f"m{i}")
        _, done = c.command(b"APPEND %s {%d+}\r\n%s" % (folder.encode(), len(msg), msg))
        assert rest(done).startswith(b"OK [APPENDUID"), done


def lines(u):
    return [x.decode() for x in flat(u)]


def ok(c, cmd):
    u, done = c.command(cmd)
    assert rest(done).startswith(b"OK"), (cmd, done)
    return lines(u), rest(done).decode()


def code_value(ls, code):
    for x in ls:
        m = re.fullmatch(r"\* OK \[%s (\d+)\].*" % code, x)
        if m:
            return int(m.group(1))
    return None


def qresync_client(srv, mode, user):
    c = RawImap(srv, mode).login(user)
    assert ok(c, "ENABLE QRESYNC")[0] == ["* ENABLED QRESYNC"]
    return c


def fetches(ls):
    """{uid: (flags, modseq)} of FETCH responses."""
    out = {}
    for x in ls:
        m = re.fullmatch(r"\* \d+ FETCH \(UID (\d+) FLAGS \(([^)]*)\) MODSEQ \((\d+)\)\)", x)
        if m:
            out[int(m.group(1))] = (m.group(2), int(m.group(3)))
    return out


@pytest.mark.parametrize("mode", MODES)
def test_vanished_instead_of_expunge(srv, mode):
    """RFC 7162 3.2.7, 3.2.9, 3.2.10.2."""
    user = fresh_user(srv, 6)
    q = qresync_client(srv, mode, user)
    plain = RawImap(srv, mode).login(user)
    ok(q, "SELECT INBOX")
    ok(plain, "SELECT INBOX")
    ok(plain, "STORE 2,4 +FLAGS.SILENT (\\Deleted)")
    ls, done = ok(plain, "EXPUNGE")
    assert ls == ["* 4 EXPUNGE", "* 2 EXPUNGE"] and done == "OK Expunge completed"
    ls, _ = ok(q, "NOOP")                             # another's expunge
    assert ls == ["* VANISHED 2,4"]
    ok(q, "STORE 1,3 +FLAGS.SILENT (\\Deleted)")      # seq 3 is UID 5
    ls, done = ok(q, "EXPUNGE")
    assert ls == ["* VANISHED 1,5"]
    h = int(re.fullmatch(r"OK \[HIGHESTMODSEQ (\d+)\] Expunge completed", done).group(1))
    ls, _ = ok(q, "STATUS INBOX (HIGHESTMODSEQ MESSAGES)")
    assert ls == ["* STATUS INBOX (HIGHESTMODSEQ %d MESSAGES 2)" % h]
    ok(q, "STORE 1 +FLAGS.SILENT (\\Deleted)")
    ls, done = ok(q, "UID EXPUNGE 1:3")               # UID 3 is seq 1
    assert ls == ["* VANISHED 3"] and done.startswith("OK [HIGHESTMODSEQ ")
    ls, done = ok(q, "UID EXPUNGE 1:3")               # nothing: no code
    assert ls == [] and done == "OK Expunge completed"
    ls, _ = ok(plain, "NOOP")                         # UIDs 5, 3, 1
    assert ls == ["* 3 EXPUNGE", "* 2 EXPUNGE", "* 1 EXPUNGE"]
    ls, _ = ok(q, "FETCH 1 (UID)")
    assert ls == ["* 1 FETCH (UID 6)"]
    q.command("LOGOUT")
    plain.command("LOGOUT")


@pytest.mark.parametrize("mode", MODES)
def test_select_qresync_after_changes(srv, mode):
    """RFC 7162 3.2.5.1: a client comes back after two other sessions
    changed flags, expunged and added mail; one SELECT tells it all."""
    user = fresh_user(srv, 10)
    c = qresync_client(srv, mode, user)
    ls, _ = ok(c, "SELECT INBOX")
    uidvalidity = code_value(ls, "UIDVALIDITY")
    known = code_value(ls, "HIGHESTMODSEQ")
    c.command("LOGOUT")

    a = RawImap(srv, mode).login(user)
    b = RawImap(srv, mode).login(user)
    ok(a, "SELECT INBOX")
    ok(b, "SELECT INBOX")
    ok(a, "UID STORE 2 +FLAGS (\\Seen)")
    ok(b, "UID STORE 5 +FLAGS ($Work)")
    ok(a, "UID STORE 7,8 +FLAGS (\\Deleted)")
    ok(a, "EXPUNGE")
    ok(b, "UID STORE 5 +FLAGS (\\Answered)")
    ok(b, "UNSELECT")
    append(b, 2)                                      # UIDs 11, 12: recent
    a.command("LOGOUT")
    b.command("LOGOUT")

    c = qresync_client(srv, mode, user)
    ls, done = ok(c, "SELECT INBOX (QRESYNC (%d %d 1:10))" % (uidvalidity, known))
    assert done == "OK [READ-WRITE] Select completed"
    assert "* OK [CLOSED] Previous mailbox closed." not in ls
    assert "* 10 EXISTS" in ls and "* 2 RECENT" in ls
    h = code_value(ls, "HIGHESTMODSEQ")
    assert h > known
    i_vanished = ls.index("* VANISHED (EARLIER) 7:8")
    got = fetches(ls)
    assert {u: f for u, (f, _) in got.items()} == {2: "\\Seen", 5: "\\Answered $Work"}
    assert all(known < m <= h for _, m in got.values())
    assert all(ls.index(x) > i_vanished for x in ls if " FETCH " in x)
    # Without known-uids: the new messages too.
    ls, _ = ok(c, "SELECT INBOX (QRESYNC (%d %d))" % (uidvalidity, known))
    assert ls[0] == "* OK [CLOSED] Previous mailbox closed."
    assert "* VANISHED (EARLIER) 7:8" in ls
    assert set(fetches(ls)) == {2, 5, 11, 12}
    # Up to date: nothing to tell.
    ls, _ = ok(c, "EXAMINE INBOX (QRESYNC (%d %d 1:12))" % (uidvalidity, h))
    assert not [x for x in ls if "VANISHED" in x or " FETCH " in x]
    # Another UIDVALIDITY: an ordinary CONDSTORE select.
    ls, _ = ok(c, "SELECT INBOX (QRESYNC (%d %d 1:10))" % (uidvalidity + 1, known))
    assert code_value(ls, "HIGHESTMODSEQ") == h
    assert not [x for x in ls if "VANISHED" in x or " FETCH " in x]
    c.command("LOGOUT")


@pytest.mark.parametrize("mode", MODES)
def test_resync_of_an_emptied_folder(srv, mode):
    """Everything expunged meanwhile: VANISHED (EARLIER) still comes."""
    user = fresh_user(srv, 3)
    c = qresync_client(srv, mode, user)
    ls, _ = ok(c, "SELECT INBOX")
    uidvalidity, known = code_value(ls, "UIDVALIDITY"), code_value(ls, "HIGHESTMODSEQ")
    d = RawImap(srv, mode).login(user)
    ok(d, "SELECT INBOX")
    ok(d, "STORE 1:* +FLAGS.SILENT (\\Deleted)")
    ok(d, "EXPUNGE")
    d.command("LOGOUT")
    ls, _ = ok(c, "NOOP")
    assert ls == ["* VANISHED 1:3"]
    ls, _ = ok(c, "UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d VANISHED)" % known)
    assert ls == ["* VANISHED (EARLIER) 1:3"]
    ls, done = ok(c, "SELECT INBOX (QRESYNC (%d %d 1:3))" % (uidvalidity, known))
    assert "* 0 EXISTS" in ls and "* VANISHED (EARLIER) 1:3" in ls
    assert done == "OK [READ-WRITE] Select completed"
    c.command("LOGOUT")


@pytest.mark.parametrize("mode", MODES)
def test_uid_fetch_vanished(srv, mode):
    """RFC 7162 3.2.6: VANISHED (EARLIER) first, then the FETCHes."""
    user = fresh_user(srv, 8)
    c = qresync_client(srv, mode, user)
    ls, _ = ok(c, "SELECT INBOX")
    known = code_value(ls, "HIGHESTMODSEQ")
    d = RawImap(srv, mode).login(user)
    ok(d, "SELECT INBOX")
    ok(d, "UID STORE 3,8 +FLAGS (\\Deleted)")
    ok(d, "EXPUNGE")
    ok(d, "UID STORE 4 +FLAGS (\\Flagged)")
    # The expunges reach c with this command's end, not within its answer.
    u, done = c.command("UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d VANISHED)" % known)
    ls = lines(u)
    assert rest(done) == b"OK Fetch completed"
    assert "* VANISHED 3,8" in ls
    assert not [x for x in ls if x.startswith("* VANISHED (EARLIER)")]
    # Now they are gone from c's view: EARLIER tells them, the set's "*"
    # reaching the last UID.
    ls, _ = ok(c, "UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d VANISHED)" % known)
    assert ls[0] == "* VANISHED (EARLIER) 3,8"
    assert list(fetches(ls)) == [4]
    ls, _ = ok(c, "UID FETCH 5:7 (FLAGS) (CHANGEDSINCE %d VANISHED)" % known)
    assert ls == []
    _, done = c.command("FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)")
    assert rest(done).startswith(b"BAD")              # not without UID
    _, done = c.command("UID FETCH 1:* (FLAGS) (VANISHED)")
    assert rest(done).startswith(b"BAD")              # not without CHANGEDSINCE
    c.command("LOGOUT")
    d.command("LOGOUT")


def uidlist_path(srv, user):
    return os.path.join(srv.maildir(user), "sealpost-uidlist")


def forget_expunges(srv, user, above):
    """Make the folder's log of expunges say it is complete only above a
    mod-sequence, as when its oldest entries were dropped (the header's
    X<n>; rewritten as the server does: temp file, rename)."""
    path = uidlist_path(srv, user)
    with open(path, "rb") as f:
        head, body = f.readline(), f.read()
    head, n = re.subn(rb" X\d+\n$", b" X%d\n" % above, head)
    assert n == 1, head
    with open(path + ".new", "wb") as f:
        f.write(head + body)
    os.rename(path + ".new", path)


@pytest.mark.parametrize("mode", MODES)
def test_resync_beyond_the_log(srv, mode):
    """When the log of expunges does not reach back to the client's
    mod-sequence, VANISHED (EARLIER) names every known UID that is not
    there; seq-match-data (RFC 7162 3.2.5.2) narrows it down."""
    user = fresh_user(srv, 9)
    c = qresync_client(srv, mode, user)
    ls, _ = ok(c, "SELECT INBOX")
    uidvalidity = code_value(ls, "UIDVALIDITY")
    ok(c, "UID STORE 2 +FLAGS.SILENT (\\Deleted)")
    ls, done = ok(c, "EXPUNGE")
    assert ls == ["* VANISHED 2"]
    known = int(re.fullmatch(r"OK \[HIGHESTMODSEQ (\d+)\].*", done).group(1))
    c.command("LOGOUT")                       # knows UIDs 1, 3:9 at seqs 1:8
    d = RawImap(srv, mode).login(user)
    ok(d, "SELECT INBOX")
    ok(d, "UID STORE 7 +FLAGS.SILENT (\\Deleted)")
    ok(d, "EXPUNGE")
    d.command("LOGOUT")

    c = qresync_client(srv, mode, user)
    q = "SELECT INBOX (QRESYNC (%d %d 1:12%%s))" % (uidvalidity, known)
    ls, _ = ok(c, q % "")
    assert "* VANISHED (EARLIER) 7" in ls              # exact: from the log
    assert not [x for x in ls if " FETCH " in x]
    c.command("LOGOUT")
    forget_expunges(srv, user, known + 5)
    c = qresync_client(srv, mode, user)
    ls, _ = ok(c, q % "")
    assert "* VANISHED (EARLIER) 2,7,10:12" in ls      # all not there
    # The client knew UID 3 at seq 2, and it still is: nothing below it
    # can be gone. UID 9 (seq 8) is 7th now: no help.
    ls, _ = ok(c, q % " (2 3)")
    assert "* VANISHED (EARLIER) 7,10:12" in ls
    ls, _ = ok(c, q % " (8 9)")
    assert "* VANISHED (EARLIER) 2,7,10:12" in ls
    ls, _ = ok(c, q % " (1:2,8 1,3,9)")
    assert "* VANISHED (EARLIER) 7,10:12" in ls
    for bad in (" (1 2 3)", " (1:2 1)x", ""):
        _, done = c.command(("SELECT INBOX (QRESYNC (%d %d 1:*%s))" %
                             (uidvalidity, known, bad)))
        assert rest(done).startswith(b"BAD"), (bad, done)
    c.command("LOGOUT")


@pytest.mark.parametrize("mode", MODES)
def test_closed_and_enable_required(srv, mode):
    """RFC 7162 3.2.3 and 3.2.11."""
    user = fresh_user(srv, 1)
    c = RawImap(srv, mode).login(user)
    _, done = c.command("SELECT INBOX (QRESYNC (1 1))")
    assert rest(done).startswith(b"BAD")              # not enabled
    ls, _ = ok(c, "SELECT INBOX")
    assert not [x for x in ls if "CLOSED" in x]
    ls, _ = ok(c, "EXAMINE Sent")
    assert ls[0] == "* OK [CLOSED] Previous mailbox closed."
    assert "* 0 EXISTS" in ls
    ls, _ = ok(c, "UNSELECT")
    assert ls == []
    ls, _ = ok(c, "SELECT INBOX")
    assert not [x for x in ls if "CLOSED" in x]
    ls, done = ok(c, "CLOSE")
    assert ls == [] and done == "OK Close completed"
    c.command("LOGOUT")


@pytest.mark.parametrize("mode", MODES)
def test_live_updates_and_held_expunges(srv, mode):
    """A QRESYNC session idling while another changes the folder hears each
    change with UID and MODSEQ; an expunge held back during FETCH comes
    with a HIGHESTMODSEQ below it (RFC 7162 3.2)."""
    user = fresh_user(srv, 4)
    c = qresync_client(srv, mode, user)
    d = RawImap(srv, mode).login(user)
    ok(c, "SELECT INBOX")
    ok(d, "SELECT INBOX")
    # d expunges 1, then changes 2: c's FETCH hears the flag change (with
    # its MODSEQ, above the expunge's) but not the expunge yet, so it is
    # told a HIGHESTMODSEQ below the expunge.
    ls, _ = ok(c, "FETCH 1:* (MODSEQ)")
    before = max(m for m in map(int, re.findall(r"MODSEQ \((\d+)\)", " ".join(ls))))
    ok(d, "STORE 1 +FLAGS.SILENT (\\Deleted)")
    ok(d, "EXPUNGE")
    ok(d, "STORE 1 +FLAGS (\\Seen)")                   # UID 2
    ls, _ = ok(c, "FETCH 2 (FLAGS)")
    told = fetches(ls)                        # the unsolicited one, with UID
    assert told == {2: ("\\Seen", before + 3)}  # store, expunge, store
    assert code_value(ls, "HIGHESTMODSEQ") == before
    assert not [x for x in ls if "VANISHED" in x]
    ls, _ = ok(c, "NOOP")
    assert ls == ["* VANISHED 1"]
    # IDLE: flag change, expunge and new mail, as they happen.
    c.send(b"i IDLE\r\n")
    assert c.line() == b"+ idling"
    ok(d, "STORE 1 +FLAGS (\\Flagged)")               # UID 2
    line = c.line().decode()
    assert re.fullmatch(r"\* 1 FETCH \(UID 2 FLAGS \(\\Flagged \\Seen\) MODSEQ \(\d+\)\)",
                        line), line
    ok(d, "STORE 2 +FLAGS.SILENT (\\Deleted)")        # UID 3
    ok(d, "EXPUNGE")
    seen = []
    while not any("VANISHED" in x for x in seen):
        seen.append(c.line().decode())
    assert "* VANISHED 3" in seen
    ok(d, "UNSELECT")                         # so that c gets \\Recent
    append(d, 1)
    seen = [c.line().decode(), c.line().decode()]
    assert seen == ["* 3 EXISTS", "* 1 RECENT"]
    c.send(b"DONE\r\n")
    c.until("i")
    c.command("LOGOUT")
    d.command("LOGOUT")
