"""ESEARCH (RFC 4731: SEARCH RETURN (MIN MAX ALL COUNT)) and SEARCHRES
(RFC 5182: RETURN (SAVE) and "$"), over STARTTLS and IMAPS, after the
examples of the RFCs."""
import pytest

from imap_sel_util import (MODES, RawImap, flat, imap_server, place, rest,
                           simple_message)

_users = [0]


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    s = imap_server(tmp_path_factory.mktemp("imapesearch"))
    yield s
    s.check_clean_exit()


def mailbox(srv, n=12):
    """A user with n messages; 2, 10 and 11 flagged and from Jones, 5 from
    Smith and flagged, UIDs equal to sequence numbers."""
    _users[0] += 1
    user = f"es{_users[0]}@example.test"
    srv.add_user(user)
    for i in range(1, n + 1):
        sender = "Smith" if i == 5 else "Jones"
        place(srv, simple_message(f"m{i}", extra=f"X-Sender: {sender}\r\n"),
              user=user, info=":2,F" if i in (2, 5, 10, 11) else ":2,",
              mtime=1700000000 + i)
    return user


def test_capability(srv):
    c = RawImap(srv)
    u, _ = c.command("CAPABILITY")
    caps = flat(u)[0].split()
    assert b"ESEARCH" in caps and b"SEARCHRES" in caps


@pytest.mark.parametrize("mode", MODES)
def test_rfc4731_examples(srv, mode):
    c = RawImap(srv, mode).login(mailbox(srv))
    c.command("SELECT INBOX")
    q = 'FLAGGED SINCE 1-Feb-1994 NOT HEADER X-Sender "Smith"'
    u, done = c.command(f"SEARCH RETURN (MIN COUNT) {q}", tag="A282")
    assert flat(u) == [b'* ESEARCH (TAG "A282") MIN 2 COUNT 3']
    assert rest(done) == b"OK Search completed"
    u, _ = c.command(f"SEARCH RETURN () {q}", tag="A283")
    assert flat(u) == [b'* ESEARCH (TAG "A283") ALL 2,10:11']
    u, _ = c.command(f"SEARCH RETURN (MIN MAX) {q}", tag="A284")
    assert flat(u) == [b'* ESEARCH (TAG "A284") MIN 2 MAX 11']
    u, _ = c.command(f"SEARCH RETURN (ALL COUNT MIN MAX) {q}", tag="A285")
    assert flat(u) == [b'* ESEARCH (TAG "A285") MIN 2 MAX 11 ALL 2,10:11 COUNT 3']
    # UID SEARCH: the UID indicator, UIDs
    c.command("STORE 1 +FLAGS (\\Deleted)")
    c.command("EXPUNGE")
    u, _ = c.command("UID SEARCH RETURN (MIN MAX) 1:5000", tag="A286")
    assert flat(u) == [b'* ESEARCH (TAG "A286") UID MIN 2 MAX 12']
    u, _ = c.command("SEARCH RETURN (ALL) FLAGGED")
    assert flat(u)[0].endswith(b") ALL 1,4,9:10")       # numbers moved down
    # nothing found: no MIN, MAX or ALL; COUNT 0 still
    u, _ = c.command("SEARCH RETURN (MIN MAX ALL COUNT) SUBJECT nowhere", tag="A287")
    assert flat(u) == [b'* ESEARCH (TAG "A287") COUNT 0']
    u, _ = c.command("UID SEARCH RETURN (ALL) SUBJECT nowhere", tag="A288")
    assert flat(u) == [b'* ESEARCH (TAG "A288") UID']
    # CHARSET after RETURN; no RETURN: the RFC 3501 answer
    u, _ = c.command("SEARCH RETURN (COUNT) CHARSET UTF-8 ALL", tag="A289")
    assert flat(u) == [b'* ESEARCH (TAG "A289") COUNT 11']
    u, _ = c.command("SEARCH FLAGGED")
    assert flat(u) == [b"* SEARCH 1 4 9 10"]
    # bad options
    for bad in ("RETURN (FOO) ALL", "RETURN MIN ALL", "RETURN", "RETURN (MIN)"):
        _, done = c.command(f"SEARCH {bad}")
        assert rest(done).startswith(b"BAD"), (bad, done)
    c.command("LOGOUT")


@pytest.mark.parametrize("mode", MODES)
def test_rfc5182_saved_result(srv, mode):
    c = RawImap(srv, mode).login(mailbox(srv))
    c.command("SELECT INBOX")
    # "$" before any SAVE is empty
    u, done = c.command("FETCH $ (UID)")
    assert u == [] and rest(done).startswith(b"OK")
    u, done = c.command('SEARCH RETURN (SAVE) FLAGGED NOT HEADER X-Sender "Smith"',
                        tag="A282")
    assert u == [] and rest(done) == b"OK Search completed"
    u, _ = c.command("FETCH $ (UID FLAGS)", tag="A283")
    assert flat(u) == [b"* 2 FETCH (UID 2 FLAGS (\\Flagged \\Recent))",
                       b"* 10 FETCH (UID 10 FLAGS (\\Flagged \\Recent))",
                       b"* 11 FETCH (UID 11 FLAGS (\\Flagged \\Recent))"]
    # $ holds UIDs: after an expunge the numbers follow
    c.command("STORE 1 +FLAGS.SILENT (\\Deleted)")
    c.command("EXPUNGE")
    u, _ = c.command("FETCH $ (UID)")
    assert flat(u) == [b"* 1 FETCH (UID 2)", b"* 9 FETCH (UID 10)",
                       b"* 10 FETCH (UID 11)"]
    u, _ = c.command("UID FETCH $ (FLAGS)")
    assert [x.split(b" FLAGS")[0] for x in flat(u)] == [
        b"* 1 FETCH (UID 2", b"* 9 FETCH (UID 10", b"* 10 FETCH (UID 11"]
    # in SEARCH keys, and with OR
    u, _ = c.command("SEARCH $ SUBJECT m1")
    assert flat(u) == [b"* SEARCH 9 10"]
    u, _ = c.command("UID SEARCH OR $ UID 3")
    assert flat(u) == [b"* SEARCH 2 3 10 11"]
    # SAVE with MIN and MAX only keeps those (RFC 5182 2.1)
    u, _ = c.command("SEARCH RETURN (SAVE MIN MAX) FLAGGED", tag="A290")
    assert flat(u) == [b'* ESEARCH (TAG "A290") MIN 1 MAX 10']
    u, _ = c.command("UID SEARCH $")
    assert flat(u) == [b"* SEARCH 2 11"]
    u, _ = c.command("SEARCH RETURN (SAVE COUNT) FLAGGED")
    assert flat(u)[0].endswith(b"COUNT 4")
    u, _ = c.command("UID SEARCH $")
    assert flat(u) == [b"* SEARCH 2 5 10 11"]
    # STORE and COPY take $
    c.command("STORE $ +FLAGS.SILENT (\\Seen)")
    u, _ = c.command("SEARCH SEEN")
    assert flat(u) == [b"* SEARCH 1 4 9 10"]
    _, done = c.command("COPY $ Trash")
    assert b"COPYUID" in done
    # a failing SAVE empties $
    _, done = c.command("SEARCH RETURN (SAVE) BADKEY")
    assert rest(done).startswith(b"BAD")
    u, _ = c.command("UID SEARCH $")
    assert flat(u) == [b"* SEARCH"]
    # a new SELECT forgets it
    c.command("SEARCH RETURN (SAVE) ALL")
    c.command("SELECT INBOX")
    u, _ = c.command("SEARCH $")
    assert flat(u) == [b"* SEARCH"]
    c.command("LOGOUT")
