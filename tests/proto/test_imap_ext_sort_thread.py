"""SORT (RFC 5256, SORT=DISPLAY RFC 5957, ESORT RFC 5267) and THREAD
(ORDEREDSUBJECT, REFERENCES) over STARTTLS and IMAPS, after the examples
of RFC 5256."""
import pytest

from imap_sel_util import MODES, RawImap, flat, imap_server, place, rest

_users = [0]


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    s = imap_server(tmp_path_factory.mktemp("imapsort"))
    yield s
    s.check_clean_exit()


def message(subject, date, frm="x@example.org", to="alice@example.test",
            msgid=None, refs=None, irt=None, cc=None, body="body\r\n"):
    h = f"From: {frm}\r\nTo: {to}\r\nSubject: {subject}\r\n"
    if date is not None:
        h += f"Date: {date}\r\n"
    if msgid:
        h += f"Message-ID: {msgid}\r\n"
    if refs:
        h += f"References: {refs}\r\n"
    if irt:
        h += f"In-Reply-To: {irt}\r\n"
    if cc:
        h += f"Cc: {cc}\r\n"
    return (h + "\r\n" + body).encode()


def user_with(srv, msgs):
    _users[0] += 1
    user = f"sort{_users[0]}@example.test"
    srv.add_user(user)
    for i, m in enumerate(msgs):
        # UIDs follow the internal dates (oldest first)
        place(srv, m, user=user, mtime=1700000000 + i * 60)
    return user


SORT_MSGS = [
    message("Beta", "Mon, 1 Jan 2024 10:00:00 +0000", frm="Zed <zed@a.example>",
            cc="b@x.example"),
    message("Gamma", "Tue, 2 Jan 2024 10:00:00 +0000", frm="amy@b.example",
            body="x" * 500),
    message("Re: Alpha", "Wed, 3 Jan 2024 10:00:00 +0000", frm="Bob <BOB@c.example>",
            cc="a@x.example"),
    message("[list] Alpha", "Mon, 1 Jan 2024 09:00:00 +0000",
            frm="carl@d.example", body="y" * 100),
    # the Date in another zone: 5 Jan 01:00 +0900 is 4 Jan 16:00 UTC
    message("alpha (fwd)", "Fri, 5 Jan 2024 01:00:00 +0900", frm="dan@e.example"),
]


def test_capability(srv):
    c = RawImap(srv)
    caps = flat(c.command("CAPABILITY")[0])[0].split()
    for cap in (b"SORT", b"SORT=DISPLAY", b"ESORT", b"THREAD=ORDEREDSUBJECT",
                b"THREAD=REFERENCES"):
        assert cap in caps


@pytest.mark.parametrize("mode", MODES)
def test_sort_rfc5256(srv, mode):
    c = RawImap(srv, mode).login(user_with(srv, SORT_MSGS))
    c.command("SELECT INBOX")
    u, done = c.command("SORT (SUBJECT REVERSE DATE) UTF-8 ALL", tag="A283")
    assert flat(u) == [b"* SORT 5 3 4 1 2"]
    assert rest(done) == b"OK Sort completed"
    u, _ = c.command("SORT (SUBJECT) UTF-8 SINCE 1-Feb-1994", tag="A282")
    assert flat(u) == [b"* SORT 3 4 5 1 2"]        # equal subjects: sequence order
    u, _ = c.command('SORT (SUBJECT) US-ASCII TEXT "not in mailbox"', tag="A284")
    assert flat(u) == [b"* SORT"]
    for keys, want in [
        ("DATE", b"4 1 2 3 5"),
        ("REVERSE DATE", b"5 3 2 1 4"),
        ("ARRIVAL", b"1 2 3 4 5"),
        ("REVERSE ARRIVAL", b"5 4 3 2 1"),
        ("SIZE", b"5 1 3 4 2"),
        ("FROM", b"2 3 4 5 1"),                    # amy bob carl dan zed
        ("DISPLAYFROM", b"2 3 4 5 1"),             # amy@ Bob carl@ dan@ Zed
        ("CC", b"2 4 5 3 1"),                      # none first, then a@ b@
        ("REVERSE SIZE", b"2 4 3 1 5"),
        ("TO DATE", b"4 1 2 3 5"),                 # all equal, then by date
    ]:
        u, done = c.command(f"SORT ({keys}) UTF-8 ALL")
        assert flat(u) == [b"* SORT " + want], (keys, u)
    # UID SORT answers UIDs; search keys restrict
    c.command("STORE 1 +FLAGS (\\Deleted)")
    c.command("EXPUNGE")
    u, _ = c.command("UID SORT (DATE) UTF-8 NOT SUBJECT gamma")
    assert flat(u) == [b"* SORT 4 3 5"]
    u, _ = c.command("SORT (DATE) UTF-8 NOT SUBJECT gamma")
    assert flat(u) == [b"* SORT 3 2 4"]
    # errors
    _, done = c.command("SORT (SUBJECT) KOI8-R ALL")
    assert rest(done).startswith(b"NO [BADCHARSET (UTF-8 US-ASCII)]")
    for bad in ("SORT SUBJECT UTF-8 ALL", "SORT (BOGUS) UTF-8 ALL",
                "SORT (SUBJECT) UTF-8", "SORT (REVERSE) UTF-8 ALL", "SORT"):
        _, done = c.command(bad)
        assert rest(done).startswith(b"BAD"), (bad, done)
    c.command("LOGOUT")


@pytest.mark.parametrize("mode", MODES)
def test_esort_rfc5267(srv, mode):
    c = RawImap(srv, mode).login(user_with(srv, SORT_MSGS))
    c.command("SELECT INBOX")
    u, _ = c.command("SORT RETURN (MIN MAX COUNT ALL) (SUBJECT REVERSE DATE) UTF-8 ALL",
                     tag="B1")
    assert flat(u) == [b'* ESEARCH (TAG "B1") MIN 5 MAX 2 ALL 5,3:4,1:2 COUNT 5']
    u, _ = c.command("UID SORT RETURN (COUNT) (DATE) UTF-8 SUBJECT alpha", tag="B2")
    assert flat(u) == [b'* ESEARCH (TAG "B2") UID COUNT 3']
    u, _ = c.command("SORT RETURN () (DATE) UTF-8 SUBJECT nothing", tag="B3")
    assert flat(u) == [b'* ESEARCH (TAG "B3")']
    c.command("LOGOUT")


THREAD_MSGS = [
    # 1-4: a thread by References/In-Reply-To
    message("Meeting", "Mon, 1 Jan 2024 10:00:00 +0000", msgid="<m1@x>"),
    message("Re: Meeting", "Mon, 1 Jan 2024 11:00:00 +0000", msgid="<m2@x>",
            refs="<m1@x>"),
    message("Re: Meeting", "Mon, 1 Jan 2024 12:00:00 +0000", msgid="<m3@x>",
            refs="<m1@x>\r\n <m2@x>"),
    message("Re: Meeting", "Mon, 1 Jan 2024 13:00:00 +0000", msgid="<m4@x>",
            irt="<m1@x> (from Anne)"),
    # 5: unrelated, earlier than everything
    message("Lunch?", "Sun, 31 Dec 2023 10:00:00 +0000", msgid="<l1@x>"),
    # 6-7: replies to a message that is not here: a dummy at the top
    message("Report", "Tue, 2 Jan 2024 10:00:00 +0000", msgid="<r1@x>",
            refs="<gone@x>"),
    message("Re: Report", "Tue, 2 Jan 2024 11:00:00 +0000", msgid="<r2@x>",
            refs="<gone@x>"),
    # 8: a reply without references: joins "Lunch?" by subject
    message("Re: Lunch?", "Wed, 3 Jan 2024 10:00:00 +0000", msgid="<l2@x>"),
]


@pytest.mark.parametrize("mode", MODES)
def test_thread(srv, mode):
    c = RawImap(srv, mode).login(user_with(srv, THREAD_MSGS))
    c.command("SELECT INBOX")
    u, done = c.command("THREAD REFERENCES UTF-8 ALL", tag="A285")
    assert flat(u) == [b"* THREAD (5 8)(1 (2 3)(4))((6)(7))"]
    assert rest(done) == b"OK Thread completed"
    u, _ = c.command("THREAD ORDEREDSUBJECT UTF-8 ALL", tag="A283")
    # Lunch? (5, 8), Meeting (1, 2, 3, 4), Report (6, 7) by first date
    assert flat(u) == [b"* THREAD (5 8)(1 (2)(3)(4))(6 7)"]
    u, _ = c.command('THREAD ORDEREDSUBJECT UTF-8 SINCE 1-Jan-1970 TEXT "gewp"',
                     tag="A284")
    assert flat(u) == [b"* THREAD"]
    u, _ = c.command("UID THREAD REFERENCES US-ASCII SENTSINCE 1-Jan-2024 SUBJECT meeting")
    assert flat(u) == [b"* THREAD (1 (2 3)(4))"]
    # a search key leaves out the root: its replies are then threaded
    # under a dummy (the parent is not among the results)
    u, _ = c.command("THREAD REFERENCES UTF-8 NOT HEADER Message-ID m1@x SUBJECT meeting")
    assert flat(u) == [b"* THREAD ((2 3)(4))"]
    _, done = c.command("THREAD BOGUS UTF-8 ALL")
    assert rest(done).startswith(b"BAD")
    _, done = c.command("THREAD REFERENCES X-UNKNOWN ALL")
    assert rest(done).startswith(b"NO [BADCHARSET")
    c.command("LOGOUT")
