"""IMAP4rev2 (RFC 9051) beside IMAP4rev1, over STARTTLS and IMAPS: ENABLE
IMAP4rev2, then UTF-8 mailbox names both ways, no \\Recent and no RECENT,
SEARCH answered with ESEARCH, SELECT's LIST, OLDNAME after RENAME and
\\NonExistent after DELETE; an IMAP4rev1 session keeps RFC 3501."""
import os

import pytest

from imap_sel_util import (MODES, RawImap, deliver, flat, imap_server, place, rest,
                           simple_message)

_users = [0]


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    s = imap_server(tmp_path_factory.mktemp("imaprev2"))
    yield s
    s.check_clean_exit()


def fresh_user(srv):
    _users[0] += 1
    user = f"r{_users[0]}@example.test"
    srv.add_user(user)
    return user


def rev2(srv, mode, user):
    c = RawImap(srv, mode).login(user)
    caps = flat(c.command("CAPABILITY")[0])[0].split()
    assert b"IMAP4rev1" in caps and b"IMAP4rev2" in caps
    u, done = c.command("ENABLE IMAP4rev2")
    assert flat(u) == [b"* ENABLED IMAP4rev2"] and rest(done).startswith(b"OK")
    u, _ = c.command("ENABLE IMAP4rev2 CONDSTORE-UNKNOWN-X")
    assert flat(u) == [b"* ENABLED"]                 # on already; unknown ignored
    return c


@pytest.mark.parametrize("mode", MODES)
def test_rev2_session(srv, mode):
    user = fresh_user(srv)
    for i in range(2):
        place(srv, simple_message(f"old{i}"), user=user, info=":2,S")
    place(srv, simple_message("new one"), user=user, sub="new")
    c = rev2(srv, mode, user)
    u, done = c.command("SELECT INBOX")
    lines = flat(u)
    assert b"* 3 EXISTS" in lines
    assert b'* LIST () "/" INBOX' in lines
    assert not any(b"RECENT" in x or b"UNSEEN" in x for x in lines), lines
    assert rest(done).startswith(b"OK [READ-WRITE]")
    u, _ = c.command("FETCH 3 FLAGS")
    assert flat(u) == [b"* 3 FETCH (FLAGS ())"]      # no \Recent
    u, _ = c.command("SEARCH UNSEEN", tag="S1")
    assert flat(u) == [b'* ESEARCH (TAG "S1") ALL 3']
    u, _ = c.command("UID SEARCH ALL", tag="S2")
    assert flat(u) == [b'* ESEARCH (TAG "S2") UID ALL 1:3']
    u, _ = c.command("SEARCH SUBJECT nothing", tag="S3")
    assert flat(u) == [b'* ESEARCH (TAG "S3")']
    # new mail while selected: EXISTS, no RECENT
    deliver(srv, simple_message("while selected"), rcpt=user)
    u, _ = c.command("NOOP")
    assert flat(u) == [b"* 4 EXISTS"]
    _, done = c.command("STATUS INBOX (RECENT)")
    assert rest(done).startswith(b"BAD")
    u, _ = c.command("STATUS INBOX (MESSAGES UNSEEN DELETED)")
    assert flat(u) == [b"* STATUS INBOX (MESSAGES 4 UNSEEN 2 DELETED 0)"]
    # ENABLE only outside a selected mailbox (RFC 5161)
    _, done = c.command("ENABLE IMAP4rev2")
    assert rest(done).startswith(b"BAD")
    c.command("LOGOUT")


@pytest.mark.parametrize("mode", MODES)
def test_rev2_utf8_names(srv, mode):
    user = fresh_user(srv)
    c = rev2(srv, mode, user)
    name = "Entw\u00fcrfe/\u65e5\u672c"                # "Entwürfe/日本"
    _, done = c.command(f'CREATE "{name}"'.encode())
    assert rest(done).startswith(b"OK"), done
    # stored as IMAP4rev1 does: modified UTF-7
    assert os.path.isdir(os.path.join(srv.maildir(user), ".Entw&APw-rfe.&ZeVnLA-"))
    u, _ = c.command('LIST "" "Entw*"')
    assert flat(u) == [b'* LIST (\\HasChildren) "/" "Entw\xc3\xbcrfe"',
                       b'* LIST (\\HasNoChildren) "/" "Entw\xc3\xbcrfe/\xe6\x97\xa5\xe6\x9c\xac"']
    # "&" is a character, not modified UTF-7
    _, done = c.command('CREATE "Q&A"')
    assert rest(done).startswith(b"OK")
    assert os.path.isdir(os.path.join(srv.maildir(user), ".Q&-A"))
    c.send(f'a1 APPEND "{name}" {{3+}}\r\nabc\r\n'.encode())
    assert b"OK [APPENDUID" in c.until("a1")[1]
    u, _ = c.command(f'STATUS "{name}" (MESSAGES)'.encode())
    assert flat(u) == [b'* STATUS "Entw\xc3\xbcrfe/\xe6\x97\xa5\xe6\x9c\xac" (MESSAGES 1)']
    u, _ = c.command(f'LIST "" "{name}" RETURN (STATUS (MESSAGES))'.encode())
    assert flat(u)[1] == b'* STATUS "Entw\xc3\xbcrfe/\xe6\x97\xa5\xe6\x9c\xac" (MESSAGES 1)'
    u, done = c.command(f'SELECT "{name}"'.encode())
    assert b'* LIST () "/" "Entw\xc3\xbcrfe/\xe6\x97\xa5\xe6\x9c\xac"' in flat(u)
    _, done = c.command('COPY 1 "Q&A"')
    assert b"COPYUID" in done
    # RENAME: OLDNAME; DELETE: \NonExistent
    u, done = c.command('RENAME "Q&A" "Fr\u00e5gor"'.encode())
    assert flat(u) == [b'* LIST () "/" "Fr\xc3\xa5gor" ("OLDNAME" (Q&A))']
    u, done = c.command('DELETE "Fr\u00e5gor"'.encode())
    assert flat(u) == [b'* LIST (\\NonExistent) "/" "Fr\xc3\xa5gor"']
    # not UTF-8 at all
    _, done = c.command(b'CREATE "bad\xff\xfe"')
    assert rest(done) == b"BAD Mailbox names are UTF-8 (IMAP4rev2)"
    # the same mailbox from an IMAP4rev1 session: modified UTF-7
    r1 = RawImap(srv, mode).login(user)
    u, _ = r1.command('LIST "" "Entw*"')
    assert flat(u)[0] == b'* LIST (\\HasChildren) "/" Entw&APw-rfe'
    u, _ = r1.command("SELECT Entw&APw-rfe/&ZeVnLA-")
    assert b"* 1 EXISTS" in flat(u) and b"* 0 RECENT" in flat(u)
    # UNAUTHENTICATE forgets IMAP4rev2
    c.command("UNAUTHENTICATE")
    c.login(user)
    u, _ = c.command('LIST "" "Entw*"')
    assert flat(u)[0] == b'* LIST (\\HasChildren) "/" Entw&APw-rfe'
