"""IMAP conformance items of issue 10: the keyword NIL (RFC 3501 9:
flag-keyword is an atom) and SEARCH over addresses with RFC 5322 CFWS
(comments and folding inside the address)."""
import pytest

from imap_sel_util import MODES, RawImap, flat, imap_server, place, rest

_users = [0]


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    s = imap_server(tmp_path_factory.mktemp("imapconf"))
    yield s
    s.check_clean_exit()


def fresh_user(srv):
    _users[0] += 1
    user = f"conf{_users[0]}@example.test"
    srv.add_user(user)
    return user


@pytest.mark.parametrize("mode", MODES)
def test_store_keyword_nil(srv, mode):
    user = fresh_user(srv)
    place(srv, b"Subject: nil\r\n\r\nbody\r\n", user=user)
    c = RawImap(srv, mode).login(user)
    c.command("SELECT INBOX")
    u, done = c.command("STORE 1 +FLAGS NIL")
    assert rest(done) == b"OK Store completed", done
    # (the message is new to this session: \Recent, RFC 3501 2.3.2)
    assert flat(u)[-1] == b"* 1 FETCH (FLAGS (\\Recent NIL))"
    u, done = c.command("FETCH 1 FLAGS")
    assert flat(u) == [b"* 1 FETCH (FLAGS (\\Recent NIL))"]
    u, _ = c.command("SEARCH KEYWORD NIL")
    assert flat(u) == [b"* SEARCH 1"]
    u, _ = c.command("STORE 1 -FLAGS (nil)")
    assert flat(u) == [b"* 1 FETCH (FLAGS (\\Recent))"]
    # APPEND takes it in a flag list too
    c.send(b"a1 APPEND INBOX (NIL \\Seen) {6+}\r\nx: y\r\n\r\n")
    _, done = c.until("a1")
    assert b"OK [APPENDUID" in done, done
    u, _ = c.command("FETCH 2 FLAGS")
    assert flat(u)[-1] == b"* 2 FETCH (FLAGS (\\Seen \\Recent NIL))"
    c.command("LOGOUT")


CFWS_MESSAGE = (b"From: <user-from (comment)@ (comment) domain.org>\r\n"
                b"To: Some One\r\n <to-user\r\n (c)@\r\n example.test>\r\n"
                b"Cc: cc-user (x) . name @ cc (y) . example\r\n"
                b"Subject: cfws\r\n\r\nbody\r\n")


@pytest.mark.parametrize("mode", MODES)
def test_search_address_cfws(srv, mode):
    user = fresh_user(srv)
    place(srv, b"From: other@domain.org\r\nSubject: x\r\n\r\nbody\r\n", user=user)
    place(srv, CFWS_MESSAGE, user=user)
    c = RawImap(srv, mode).login(user)
    c.command("SELECT INBOX")
    for key, want in [
        ("FROM user-from@domain.org", b"* SEARCH 2"),
        ("FROM USER-FROM@DOMAIN.ORG", b"* SEARCH 2"),
        ("FROM domain.org", b"* SEARCH 1 2"),
        ("FROM \"(comment)\"", b"* SEARCH 2"),          # as written, too
        ("TO to-user@example.test", b"* SEARCH 2"),
        ("TO \"Some One <to-user@example.test>\"", b"* SEARCH 2"),
        ("CC cc-user.name@cc.example", b"* SEARCH 2"),
        ("FROM user-from@domain.net", b"* SEARCH"),
    ]:
        u, done = c.command(f"SEARCH {key}")
        assert rest(done) == b"OK Search completed", (key, done)
        assert flat(u) == [want], key
    # ENVELOPE shows the address without the comments
    u, _ = c.command("FETCH 2 ENVELOPE")
    env = flat(u)[0]
    assert b'((NIL NIL "user-from" "domain.org"))' in env, env
    assert b'(("Some One" NIL "to-user" "example.test"))' in env, env
    c.command("LOGOUT")
