"""IMAP STORE (flags, keywords, .SILENT, the keyword limit) and SEARCH
(many keys, UTF-8 text, charsets), flags seen by a second session."""
import os
import re

import pytest

from imap_sel_util import (MODES, RawImap, corpus, flat, imap_server, login, place,
                           raw, rest, simple_message, take_recent)

_users = [0]


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    s = imap_server(tmp_path_factory.mktemp("imapstore"))
    yield s
    s.check_clean_exit()


def fresh_user(srv):
    _users[0] += 1
    user = f"store{_users[0]}@example.test"
    srv.add_user(user)
    return user


def maildir_names(srv, user):
    return sorted(os.listdir(os.path.join(srv.maildir(user), "cur")))


@pytest.mark.parametrize("mode", MODES)
def test_store_variants(srv, mode):
    user = fresh_user(srv)
    c = RawImap(srv, mode).login(user)
    for i in range(3):
        place(srv, simple_message(f"s{i}"), user=user, mtime=1700000000 + i)
    take_recent(srv, user)
    c.command("SELECT INBOX")
    u, done = c.command("STORE 1 FLAGS (\\Seen \\Flagged)")
    assert flat(u) == [b"* 1 FETCH (FLAGS (\\Flagged \\Seen))"]
    assert rest(done) == b"OK Store completed"
    u, _ = c.command("STORE 1:2 +FLAGS (\\Answered $Forwarded)")
    assert flat(u)[0] == b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Forwarded)"
    assert flat(u)[1].startswith(b"* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted "
                                 b"\\Seen \\Draft $Forwarded \\*)]")
    assert flat(u)[2:] == [b"* 1 FETCH (FLAGS (\\Answered \\Flagged \\Seen $Forwarded))",
                           b"* 2 FETCH (FLAGS (\\Answered $Forwarded))"]
    u, _ = c.command("STORE 1 -FLAGS \\Flagged $Forwarded")       # no parentheses
    assert flat(u) == [b"* 1 FETCH (FLAGS (\\Answered \\Seen))"]
    u, done = c.command("STORE 2:3 +FLAGS.SILENT (\\Draft)")
    assert u == [] and rest(done) == b"OK Store completed"
    u, _ = c.command("UID STORE 3 -FLAGS (\\Draft)")
    assert flat(u) == [b"* 3 FETCH (FLAGS () UID 3)"]
    u, _ = c.command("STORE 1 FLAGS ()")
    assert flat(u) == [b"* 1 FETCH (FLAGS ())"]
    u, _ = c.command("STORE 2 -FLAGS (NeverSet)")
    assert flat(u) == [b"* 2 FETCH (FLAGS (\\Answered \\Draft $Forwarded))"]
    # stored in the file names: Maildir letters and a keyword letter
    names = maildir_names(srv, user)
    assert sum(n.endswith(":2,DRa") for n in names) == 1, names
    with open(os.path.join(srv.maildir(user), "dovecot-keywords")) as f:
        assert f.read() == "0 $Forwarded\n"
    u, _ = c.command("FETCH 1:3 FLAGS")
    assert flat(u) == [b"* 1 FETCH (FLAGS ())", b"* 2 FETCH (FLAGS (\\Answered \\Draft "
                       b"$Forwarded))", b"* 3 FETCH (FLAGS ())"]
    c.command("LOGOUT")


def test_keyword_limit_and_recent(srv):
    user = fresh_user(srv)
    c = RawImap(srv).login(user)
    place(srv, simple_message("kw"), user=user, sub="new")
    u, _ = c.command("SELECT INBOX")
    assert b"* 1 RECENT" in flat(u)
    kws = " ".join(f"kw{i}" for i in range(26))
    u, done = c.command(f"STORE 1 +FLAGS ({kws})")
    assert rest(done) == b"OK Store completed"
    assert flat(u)[-1].startswith(b"* 1 FETCH (FLAGS (\\Recent kw0 kw1")
    assert b"\\*" not in flat(u)[1]                 # no letter left to create
    u, done = c.command("STORE 1 +FLAGS (one-too-many)")
    assert rest(done).startswith(b"NO [LIMIT]")
    u, done = c.command("STORE 1 FLAGS (\\Seen kw3)")   # \Recent stays
    assert flat(u) == [b"* 1 FETCH (FLAGS (\\Seen \\Recent kw3))"]
    _, done = c.command("STORE 1 +FLAGS (\\Recent)")
    assert rest(done).startswith(b"BAD")
    _, done = c.command("STORE 1 +FLAGS (bad]kw)")
    assert rest(done).startswith(b"BAD") or rest(done).startswith(b"NO")


def test_flags_seen_by_another_session(srv):
    user = fresh_user(srv)
    a = RawImap(srv, "starttls").login(user)
    for i in range(2):
        place(srv, simple_message(f"x{i}"), user=user)
    a.command("SELECT INBOX")
    b = RawImap(srv, "imaps").login(user)
    b.command("SELECT INBOX")
    a.command("STORE 2 +FLAGS (\\Flagged Important)")
    u, _ = b.command("NOOP")
    assert b"* 2 FETCH (FLAGS (\\Flagged Important))" in flat(u)
    # during FETCH too (flag changes may be told at any time)
    a.command("STORE 1 +FLAGS (\\Seen)")
    u, _ = b.command("FETCH 2 UID")
    assert b"* 1 FETCH (FLAGS (\\Seen))" in flat(u)
    # imaplib sees them as well
    m = login(srv, "imaps", user)
    m.select("INBOX")
    typ, data = m.fetch("1:2", "(FLAGS)")
    assert data == [b"1 (FLAGS (\\Seen))", b"2 (FLAGS (\\Flagged Important))"]
    m.logout()


SEARCH_MSGS = [
    ("Report Q1", "boss@corp.example", "Numbers are up.", "",
     "Wed, 20 Mar 2024 09:00:00 +0100"),
    ("Grüße aus Köln", "anna@example.de", "Schöne Grüße und bis bald", "",
     "Tue, 2 Apr 2024 23:30:00 -0500"),
    ("Lunch?", "bob@example.test", "Pizza or sushi", "Cc: carol@example.org\r\n",
     "15 Apr 2024 12:00 GMT"),
    ("Bill 42", "billing@shop.example", "Amount due: 42 EUR", "X-Priority: 1\r\n",
     "Wed, 01 May 2024 08:00:00 +0000"),
]


@pytest.fixture(scope="module")
def search_box(srv):
    user = fresh_user(srv)
    c = RawImap(srv).login(user)
    for i, (subj, frm, body, extra, _) in enumerate(SEARCH_MSGS):
        # Subject as an RFC 2047 word (every octet Q-escaped)
        q = "".join(f"={b:02X}" for b in subj.encode())
        hdr = (f"From: {frm}\r\nTo: someone@example.test\r\n"
               f"Subject: =?UTF-8?Q?{q}?=\r\nDate: {SEARCH_MSGS[i][4]}\r\n{extra}"
               f"Content-Type: text/plain; charset=utf-8\r\n"
               f"Content-Transfer-Encoding: 8bit\r\n\r\n").encode()
        place(srv, hdr + body.encode() + b"\r\n", user=user,
              info=":2,S" if i % 2 == 0 else ":2,", mtime=1710000000 + i * 86400 * 10)
    place(srv, corpus("mixed_attach"), user=user, mtime=1716000000)
    c.command("SELECT INBOX")
    c.command("STORE 4 +FLAGS (\\Flagged Paid)")
    c.command("LOGOUT")
    return user


@pytest.mark.parametrize("query,want", [
    ("ALL", "1 2 3 4 5"),
    ("SEEN", "1 3"),
    ("UNSEEN", "2 4 5"),
    ("FLAGGED KEYWORD Paid", "4"),
    ("UNKEYWORD Paid NOT SEEN", "2 5"),
    ("OR FROM boss FROM billing", "1 4"),
    ("SUBJECT bill", "4"),
    ("SUBJECT invoice", "5"),
    ("CHARSET UTF-8 SUBJECT {7}\r\ngrüße", "2"),
    ("CHARSET UTF-8 BODY {7}\r\nSCHÖNE", "2"),
    ("CHARSET US-ASCII TEXT pizza", "3"),
    ("CC carol", "3"),
    ("HEADER X-Priority 1", "4"),
    ("HEADER X-Priority \"\"", "4"),
    ("LARGER 900", "5"),
    ("SMALLER 300", "1 2 3 4"),
    ("2:3", "2 3"),
    ("UID 1,5:*", "1 5"),
    ("NOT 1:3", "4 5"),
    ("SENTBEFORE 1-Apr-2024", "1"),
    ("SENTSINCE 15-Apr-2024 SENTBEFORE 2-May-2024", "3 4"),
    ("BEFORE 1-Jan-2000", ""),
    ("SINCE 1-Jan-2000 (OR ANSWERED DELETED)", ""),
    ("NEW", ""),
    ("OLD", "1 2 3 4 5"),
    ("TEXT report", "1"),
    ("BODY PDF", ""),       # attachments (base64, not text) are not searched
    ("TEXT mixed", "5"),
])
def test_search_keys(srv, search_box, query, want):
    c = RawImap(srv).login(search_box)
    c.command("EXAMINE INBOX")
    q = query.encode()
    if b"{" in q:
        # a synchronising literal: wait for "+" before its bytes
        head, lit = q.split(b"\r\n", 1)
        c.tagno += 1
        tag = f"t{c.tagno}"
        c.send(tag.encode() + b" SEARCH " + head + b"\r\n")
        assert c.line().startswith(b"+")
        n = int(re.search(rb"\{(\d+)\}$", head).group(1))
        assert len(lit) == n
        c.send(lit + b"\r\n")
        u, done = c.until(tag)
    else:
        u, done = c.command(b"SEARCH " + q)
    assert rest(done) == b"OK Search completed", done
    assert flat(u) == [b"* SEARCH" + (b" " + want.encode() if want else b"")]
    c.command("LOGOUT")


def test_uid_search_and_bad_charset(srv, search_box):
    c = RawImap(srv, "starttls").login(search_box)
    c.command("SELECT INBOX")
    u, _ = c.command("UID SEARCH FLAGGED")
    uid4 = raw(c.command("FETCH 4 UID")[0][0])
    assert flat(u) == [b"* SEARCH " + re.search(rb"UID (\d+)", uid4).group(1)]
    _, done = c.command("SEARCH CHARSET KOI8-R TEXT x")
    assert rest(done) == b"NO [BADCHARSET (UTF-8 US-ASCII)] Unsupported charset"
    _, done = c.command("SEARCH FROM")
    assert rest(done).startswith(b"BAD")
    _, done = c.command("SEARCH 99")          # beyond the mailbox: no match
    assert rest(done) == b"OK Search completed"
