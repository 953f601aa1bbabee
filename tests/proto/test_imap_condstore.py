"""CONDSTORE (RFC 7162 3.1), after the RFC's examples: ENABLE, SELECT
(CONDSTORE) and [HIGHESTMODSEQ], FETCH MODSEQ and (CHANGEDSINCE n), STORE
(UNCHANGEDSINCE n) with [MODIFIED], SEARCH MODSEQ, STATUS HIGHESTMODSEQ;
mod-sequences raised by other sessions and by other Maildir programs, and
kept across a restart. Every case over STARTTLS and IMAPS."""
import os
import re

import pytest

from imap_sel_util import (MODES, RawImap, flat, imap_server, rest, simple_message)

_users = [0]


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    s = imap_server(tmp_path_factory.mktemp("condstore"))
    yield s
    s.check_clean_exit()


def fresh_user(srv, n_messages=0):
    """A new user with n messages appended to INBOX (whose \\Recent a
    SELECT has taken)."""
    _users[0] += 1
    user = f"cs{_users[0]}@example.test"
    srv.add_user(user)
    c = RawImap(srv).login(user)
    for i in range(n_messages):
        msg = simple_message(f"m{i}")
        _, done = c.command(b"APPEND INBOX {%d+}\r\n%s" % (len(msg), msg))
        assert rest(done).startswith(b"OK [APPENDUID"), done
    c.command("SELECT INBOX")
    c.command("LOGOUT")
    return user


def lines(u):
    return [x.decode() for x in flat(u)]


def ok(c, cmd):
    u, done = c.command(cmd)
    assert rest(done).startswith(b"OK"), (cmd, done)
    return lines(u), rest(done).decode()


def highestmodseq(ls):
    for x in ls:
        m = re.fullmatch(r"\* OK \[HIGHESTMODSEQ (\d+)\].*", x)
        if m:
            return int(m.group(1))
    return None


def modseqs(ls):
    """{seq: (flags, modseq)} of FETCH responses carrying MODSEQ."""
    out = {}
    for x in ls:
        m = re.fullmatch(r"\* (\d+) FETCH \((.*)\)", x)
        if m is None:
            continue
        f = re.search(r"FLAGS \(([^)]*)\)", m.group(2))
        ms = re.search(r"MODSEQ \((\d+)\)", m.group(2))
        out[int(m.group(1))] = (f.group(1) if f else None,
                                int(ms.group(1)) if ms else None)
    return out


@pytest.mark.parametrize("mode", MODES)
def test_enable_and_capabilities(srv, mode):
    user = fresh_user(srv)
    c = RawImap(srv, mode).login(user)
    ls, _ = ok(c, "CAPABILITY")
    caps = ls[0].split()
    assert "CONDSTORE" in caps and "QRESYNC" in caps
    assert ok(c, "ENABLE CONDSTORE")[0] == ["* ENABLED CONDSTORE"]
    assert ok(c, "ENABLE CONDSTORE X-UNKNOWN")[0] == ["* ENABLED"]   # not again
    assert ok(c, "ENABLE qresync")[0] == ["* ENABLED QRESYNC"]
    c.command("SELECT INBOX")
    _, done = c.command("ENABLE CONDSTORE")          # RFC 5161: not when selected
    assert rest(done).startswith(b"BAD")
    c.command("LOGOUT")


@pytest.mark.parametrize("mode", MODES)
def test_select_highestmodseq(srv, mode):
    """RFC 7162 3.1.2.1, 3.1.8 (Example 18)."""
    user = fresh_user(srv, 3)
    c = RawImap(srv, mode).login(user)
    ls, _ = ok(c, "SELECT INBOX")
    assert highestmodseq(ls) is None                  # not enabled yet
    ls, done = ok(c, "SELECT INBOX (CONDSTORE)")
    h = highestmodseq(ls)
    assert h is not None and h >= 4                   # three appends
    assert done == "OK [READ-WRITE] Select completed"
    ls, done = ok(c, "EXAMINE INBOX")                 # enabled for good
    assert highestmodseq(ls) == h and done.startswith("OK [READ-ONLY]")
    for bad in ("SELECT INBOX (NOSUCH)", "SELECT INBOX (QRESYNC (1 2))",
                "SELECT INBOX ()", "SELECT INBOX (CONDSTORE CONDSTORE)"):
        _, done = c.command(bad)
        assert rest(done).startswith(b"BAD"), (bad, done)
    # A CONDSTORE enabling command while selected tells HIGHESTMODSEQ once.
    d = RawImap(srv, mode).login(user)
    ok(d, "SELECT INBOX")
    ls, _ = ok(d, "FETCH 1 (MODSEQ)")
    assert highestmodseq(ls) == h
    ls, _ = ok(d, "FETCH 1 (MODSEQ)")
    assert highestmodseq(ls) is None
    c.command("LOGOUT")
    d.command("LOGOUT")


@pytest.mark.parametrize("mode", MODES)
def test_fetch_modseq_and_changedsince(srv, mode):
    """RFC 7162 Examples 12 and 13; MODSEQ rides with FLAGS once enabled."""
    user = fresh_user(srv, 5)
    c = RawImap(srv, mode).login(user)
    ls, _ = ok(c, "SELECT INBOX (CONDSTORE)")
    h = highestmodseq(ls)
    ls, _ = ok(c, "FETCH 1:3 (MODSEQ)")
    got = modseqs(ls)
    assert sorted(got) == [1, 2, 3] and all(f is None for f, _ in got.values())
    assert [m for _, m in got.values()] == sorted(m for _, m in got.values())
    assert max(m for _, m in got.values()) < h
    # Nothing changed since h.
    ls, _ = ok(c, "FETCH 1:* (FLAGS) (CHANGEDSINCE %d)" % h)
    assert ls == []
    # Another session changes 2 and 4; only those come back.
    d = RawImap(srv, mode).login(user)
    ok(d, "SELECT INBOX")
    ok(d, "STORE 2 +FLAGS (\\Seen)")
    ok(d, "STORE 4 +FLAGS (\\Flagged $Important)")
    ls, _ = ok(c, "NOOP")                             # told, with MODSEQ
    told = modseqs(ls)
    assert set(told) == {2, 4}
    assert told[2][0] == "\\Seen" and told[2][1] > h
    assert told[4][1] > told[2][1]
    ls, _ = ok(c, "FETCH 1:* (FLAGS) (CHANGEDSINCE %d)" % h)
    assert modseqs(ls) == told
    ls, _ = ok(c, "UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d)" % told[2][1])
    assert len(ls) == 1 and ls[0].startswith("* 4 FETCH (UID 4 FLAGS")
    # Plain FETCH FLAGS carries MODSEQ now too.
    ls, _ = ok(c, "FETCH 2 FLAGS")
    assert ls == ["* 2 FETCH (FLAGS (\\Seen) MODSEQ (%d))" % told[2][1]]
    for bad in ("FETCH 1 (FLAGS) (CHANGEDSINCE)", "FETCH 1 (FLAGS) (CHANGEDSINCE x)",
                "FETCH 1 (FLAGS) (NOSUCH 1)",
                "FETCH 1 (FLAGS) (CHANGEDSINCE 1 VANISHED)",   # no UID, no QRESYNC
                "UID FETCH 1 (FLAGS) (CHANGEDSINCE 1 VANISHED)"):  # no QRESYNC
        _, done = c.command(bad)
        assert rest(done).startswith(b"BAD"), (bad, done)
    c.command("LOGOUT")
    d.command("LOGOUT")


@pytest.mark.parametrize("mode", MODES)
def test_store_unchangedsince(srv, mode):
    """RFC 7162 3.1.3, Examples 3, 4, 10 and 11, with two sessions."""
    user = fresh_user(srv, 4)
    a = RawImap(srv, mode).login(user)
    b = RawImap(srv, mode).login(user)
    ls, _ = ok(a, "SELECT INBOX (CONDSTORE)")
    known = highestmodseq(ls)
    ok(b, "SELECT INBOX")
    ok(b, "STORE 2 +FLAGS (\\Answered)")              # behind a's back
    # Conditional store to 1:3 since known: 2 changed meanwhile.
    u, done = a.command("STORE 1:3 (UNCHANGEDSINCE %d) +FLAGS (\\Seen)" % known)
    ls = lines(u)
    m = re.fullmatch(rb"OK \[MODIFIED 2\] Conditional STORE failed", rest(done))
    assert m, done
    stored = modseqs([x for x in ls if not x.startswith("* 2 ")])
    assert set(stored) == {1, 3}
    assert stored[1][0] == "\\Seen" and stored[1][1] == stored[3][1] > known
    # Message 2 was not stored, and the client heard why.
    assert any(x.startswith("* 2 FETCH (") and "\\Answered" in x and "MODSEQ" in x
               for x in ls), ls
    ls, _ = ok(a, "FETCH 2 (FLAGS)")
    assert ls[0].startswith("* 2 FETCH (FLAGS (\\Answered) MODSEQ (")
    # UID STORE names UIDs; .SILENT still says MODSEQ (Example 3).
    ok(b, "STORE 4 +FLAGS (\\Flagged)")
    u, done = a.command("UID STORE 1,3,4 (UNCHANGEDSINCE %d) +FLAGS.SILENT (\\Deleted)"
                        % stored[1][1])
    assert rest(done) == b"OK [MODIFIED 4] Conditional STORE failed", done
    ls = lines(u)
    silent = [x for x in ls if "FLAGS" not in x]
    assert len(silent) == 2 and all(
        re.fullmatch(r"\* ([13]) FETCH \(UID \1 MODSEQ \(\d+\)\)", x) for x in silent), ls
    assert [x for x in ls if "FLAGS" in x][0].startswith("* 4 FETCH (UID 4 FLAGS (\\Flagged)")
    # UNCHANGEDSINCE 0 always fails (Examples 10, 11).
    _, done = a.command("STORE 1 (UNCHANGEDSINCE 0) -FLAGS (\\Deleted)")
    assert rest(done) == b"OK [MODIFIED 1] Conditional STORE failed"
    # An unconditional store that changes nothing keeps the mod-sequence.
    before = modseqs(ok(a, "FETCH 1 (MODSEQ)")[0])[1][1]
    ls, _ = ok(a, "STORE 1 +FLAGS (\\Seen)")
    assert modseqs(ls)[1][1] == before
    for bad in ("STORE 1 (UNCHANGEDSINCE) +FLAGS (\\Seen)",
                "STORE 1 (UNCHANGEDSINCE 1 UNCHANGEDSINCE 2) +FLAGS (\\Seen)",
                "STORE 1 (NOSUCH 1) +FLAGS (\\Seen)"):
        _, done = a.command(bad)
        assert rest(done).startswith(b"BAD"), (bad, done)
    a.command("LOGOUT")
    b.command("LOGOUT")


@pytest.mark.parametrize("mode", MODES)
def test_other_programs_raise_modseq(srv, mode):
    """A flag change by another Maildir program (a rename) or a deletion is
    seen by the next sync and gets a new mod-sequence."""
    user = fresh_user(srv, 2)
    c = RawImap(srv, mode).login(user)
    ls, _ = ok(c, "SELECT INBOX (CONDSTORE)")
    h = highestmodseq(ls)
    cur = os.path.join(srv.maildir(user), "cur")
    name = sorted(os.listdir(cur))[0]
    os.rename(os.path.join(cur, name),
              os.path.join(cur, name.split(":")[0] + ":2,FS"))
    ls, _ = ok(c, "NOOP")
    got = modseqs(ls)
    assert got == {1: ("\\Flagged \\Seen", h + 1)}, ls
    os.unlink(os.path.join(cur, sorted(os.listdir(cur))[1]))
    ls, _ = ok(c, "NOOP")
    assert "* 2 EXPUNGE" in ls
    ls, _ = ok(c, "STATUS INBOX (HIGHESTMODSEQ)")
    assert ls == ["* STATUS INBOX (HIGHESTMODSEQ %d)" % (h + 2)]
    c.command("LOGOUT")


@pytest.mark.parametrize("mode", MODES)
def test_search_modseq(srv, mode):
    """RFC 7162 3.1.5, 3.1.6, Examples 15 and 16."""
    user = fresh_user(srv, 6)
    c = RawImap(srv, mode).login(user)
    ls, _ = ok(c, "SELECT INBOX")
    ok(c, "STORE 2,5 +FLAGS (\\Draft)")
    ls, _ = ok(c, "FETCH 1:6 (MODSEQ)")
    ms = {s: m for s, (_, m) in modseqs(ls).items()}
    since = ms[2]
    assert ms[5] == since and max(ms.values()) == since
    ls, _ = ok(c, "SEARCH MODSEQ %d" % since)
    assert ls == ["* SEARCH 2 5 (MODSEQ %d)" % since]
    ls, _ = ok(c, 'SEARCH MODSEQ "/flags/\\\\draft" all %d' % since)
    assert ls == ["* SEARCH 2 5 (MODSEQ %d)" % since]
    ls, _ = ok(c, "UID SEARCH OR MODSEQ %d 1" % since)
    assert ls == ["* SEARCH 1 2 5 (MODSEQ %d)" % since]
    ls, _ = ok(c, "SEARCH MODSEQ %d" % (since + 1))
    assert ls == ["* SEARCH"]                         # empty: no MODSEQ
    ls, _ = ok(c, "SEARCH UNSEEN")                    # no MODSEQ key, none added
    assert ls == ["* SEARCH 1 2 3 4 5 6"]
    for bad in ("SEARCH MODSEQ", "SEARCH MODSEQ x", 'SEARCH MODSEQ "/nope" all 1',
                'SEARCH MODSEQ "/flags/\\\\seen" most 1'):
        _, done = c.command(bad)
        assert rest(done).startswith(b"BAD"), (bad, done)
    c.command("LOGOUT")


@pytest.mark.parametrize("mode", MODES)
def test_status_highestmodseq_durable(srv, mode, tmp_path):
    """RFC 7162 3.1.7 (Example 17); the mod-sequences live on disk."""
    s = imap_server(tmp_path / "restart")
    try:
        user = "alice@example.test"
        c = RawImap(s, mode).login(user)
        msg = simple_message("kept")
        for _ in range(3):
            c.command(b"APPEND INBOX {%d+}\r\n%s" % (len(msg), msg))
        ls, _ = ok(c, "STATUS INBOX (UIDNEXT MESSAGES HIGHESTMODSEQ)")
        m = re.fullmatch(r"\* STATUS INBOX \(UIDNEXT 4 MESSAGES 3 HIGHESTMODSEQ (\d+)\)",
                         ls[0])
        assert m, ls
        ok(c, "SELECT INBOX")
        ls, _ = ok(c, "STORE 2 +FLAGS (\\Seen)")
        h = int(re.search(r"MODSEQ \((\d+)\)", ls[0]).group(1))
        assert h == int(m.group(1)) + 1
        c.command("LOGOUT")
        assert s.stop() == 0
        s.start()
        c = RawImap(s, mode).login(user)
        ls, _ = ok(c, "STATUS INBOX (HIGHESTMODSEQ)")
        assert ls == ["* STATUS INBOX (HIGHESTMODSEQ %d)" % h]
        ls, _ = ok(c, "SELECT INBOX (CONDSTORE)")
        assert highestmodseq(ls) == h
        ls, _ = ok(c, "FETCH 2 (FLAGS)")
        assert ls == ["* 2 FETCH (FLAGS (\\Seen) MODSEQ (%d))" % h]
        c.command("LOGOUT")
    finally:
        s.check_clean_exit()
