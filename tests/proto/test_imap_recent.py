"""\\Recent (RFC 3501 2.3.2) for APPENDed, COPYed and MOVEd messages: they
are \\Recent for the next session that SELECTs the folder (STATUS (RECENT)
and SELECT's "* n RECENT" count them, SEARCH RECENT and NEW find them),
a session that has the folder selected meanwhile sees "* n RECENT" with
the new EXISTS and keeps them to itself, and EXAMINE and STATUS take
nothing. Over STARTTLS and IMAPS."""
import re

import pytest

from imap_sel_util import MODES, RawImap, flat, imap_server, rest, simple_message

_users = [0]


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    s = imap_server(tmp_path_factory.mktemp("recent"))
    yield s
    s.check_clean_exit()


def fresh_user(srv):
    _users[0] += 1
    user = f"rc{_users[0]}@example.test"
    srv.add_user(user)
    RawImap(srv).login(user).command("LOGOUT")          # creates the Maildir
    return user


def lines(u):
    return [x.decode() for x in flat(u)]


def ok(c, cmd):
    u, done = c.command(cmd)
    assert rest(done).startswith(b"OK"), (cmd, done)
    return lines(u)


def append(c, folder, subject, flags=""):
    msg = simple_message(subject)
    _, done = c.command(b"APPEND %s %s{%d+}\r\n%s" % (folder.encode(), flags.encode(),
                                                     len(msg), msg))
    assert rest(done).startswith(b"OK [APPENDUID"), done


def status_recent(c, folder):
    ls = ok(c, f"STATUS {folder} (MESSAGES RECENT)")
    m = re.fullmatch(r"\* STATUS \S+ \(MESSAGES (\d+) RECENT (\d+)\)", ls[0])
    return int(m.group(1)), int(m.group(2))


@pytest.mark.parametrize("mode", MODES)
def test_appended_recent_for_next_select(srv, mode):
    user = fresh_user(srv)
    c = RawImap(srv, mode).login(user)
    append(c, "INBOX", "one", "(\\Seen) ")
    append(c, "INBOX", "two")
    assert status_recent(c, "INBOX") == (2, 2)
    assert status_recent(c, "INBOX") == (2, 2)          # STATUS takes nothing
    ls = ok(c, "EXAMINE INBOX")
    assert "* 2 RECENT" in ls                           # nor does EXAMINE
    assert ok(c, "SEARCH RECENT") == ["* SEARCH 1 2"]
    s = RawImap(srv, mode).login(user)
    ls = ok(s, "SELECT INBOX")
    assert "* 2 EXISTS" in ls and "* 2 RECENT" in ls
    assert ok(s, "SEARCH RECENT") == ["* SEARCH 1 2"]
    assert ok(s, "SEARCH NEW") == ["* SEARCH 2"]         # recent and unseen
    assert ok(s, "SEARCH OLD") == ["* SEARCH"]
    assert ok(s, "FETCH 1:2 FLAGS") == ["* 1 FETCH (FLAGS (\\Seen \\Recent))",
                                        "* 2 FETCH (FLAGS (\\Recent))"]
    # Taken: nobody else sees them recent.
    assert status_recent(c, "INBOX") == (2, 0)
    ls = ok(c, "SELECT INBOX")
    assert "* 0 RECENT" in ls
    assert ok(c, "SEARCH RECENT") == ["* SEARCH"]
    assert ok(s, "SEARCH RECENT") == ["* SEARCH 1 2"]    # still s's
    c.command("LOGOUT")
    s.command("LOGOUT")


@pytest.mark.parametrize("mode", MODES)
def test_copied_and_moved_recent(srv, mode):
    user = fresh_user(srv)
    c = RawImap(srv, mode).login(user)
    for i in range(3):
        append(c, "INBOX", f"m{i}")
    ok(c, "SELECT INBOX")                               # takes INBOX's
    ok(c, "CREATE Archive")
    ok(c, "COPY 1 Archive")
    ok(c, "MOVE 2 Archive")
    assert status_recent(c, "Archive") == (2, 2)
    ls = ok(c, "UID COPY 3 Archive")
    assert status_recent(c, "Archive") == (3, 3)
    d = RawImap(srv, mode).login(user)
    ls = ok(d, "SELECT Archive")
    assert "* 3 EXISTS" in ls and "* 3 RECENT" in ls
    assert ok(d, "SEARCH NEW") == ["* SEARCH 1 2 3"]
    assert status_recent(c, "Archive") == (3, 0)
    c.command("LOGOUT")
    d.command("LOGOUT")


@pytest.mark.parametrize("mode", MODES)
def test_selected_session_sees_recent(srv, mode):
    """A session with the folder selected while another appends or copies
    into it gets "* n EXISTS" and "* n RECENT", and keeps them."""
    user = fresh_user(srv)
    sel = RawImap(srv, mode).login(user)
    other = RawImap(srv, mode).login(user)
    ls = ok(sel, "SELECT INBOX")
    assert "* 0 EXISTS" in ls
    append(other, "INBOX", "first")
    ls = ok(sel, "NOOP")
    assert ls == ["* 1 EXISTS", "* 1 RECENT"]
    ok(other, "CREATE Src")
    append(other, "Src", "copied")
    append(other, "Src", "moved")
    ok(other, "SELECT Src")
    ok(other, "COPY 1 INBOX")
    ok(other, "MOVE 2 INBOX")
    ls = ok(sel, "NOOP")
    assert ls == ["* 3 EXISTS", "* 3 RECENT"]
    assert ok(sel, "SEARCH RECENT") == ["* SEARCH 1 2 3"]
    assert ok(sel, "FETCH 3 (FLAGS)") == ["* 3 FETCH (FLAGS (\\Recent))"]
    # IDLE hears it the same way.
    sel.send(b"i IDLE\r\n")
    assert sel.line() == b"+ idling"
    ok(other, "UNSELECT")
    append(other, "INBOX", "during idle")
    assert [sel.line(), sel.line()] == [b"* 4 EXISTS", b"* 4 RECENT"]
    sel.send(b"DONE\r\n")
    sel.until("i")
    # Nobody else sees them recent.
    ls = ok(other, "SELECT INBOX")
    assert "* 4 EXISTS" in ls and "* 0 RECENT" in ls
    assert status_recent(other, "INBOX") == (4, 0)
    sel.command("LOGOUT")
    other.command("LOGOUT")
