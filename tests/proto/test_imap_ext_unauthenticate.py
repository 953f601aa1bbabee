"""UNAUTHENTICATE (RFC 8437) over STARTTLS and IMAPS: back to the
not-authenticated state, the mailbox closed without expunging, the user
forgotten, TLS and compression kept."""
import os

import pytest

from imap_sel_util import MODES, RawImap, flat, imap_server, place, rest
from mailserver import PASSWORD
from test_imap_ext_compress import ZRaw

_users = [0]


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    s = imap_server(tmp_path_factory.mktemp("imapunauth"))
    yield s
    s.check_clean_exit()


def fresh_user(srv):
    _users[0] += 1
    user = f"u{_users[0]}@example.test"
    srv.add_user(user)
    return user


@pytest.mark.parametrize("mode", MODES)
def test_unauthenticate(srv, mode):
    first, second = fresh_user(srv), fresh_user(srv)
    place(srv, b"Subject: first's\r\n\r\nx\r\n", user=first)
    place(srv, b"Subject: second's\r\n\r\ny\r\n", user=second)
    place(srv, b"Subject: second's too\r\n\r\nz\r\n", user=second)
    c = RawImap(srv, mode).login(first)
    caps = flat(c.command("CAPABILITY")[0])[0].split()
    assert b"UNAUTHENTICATE" in caps
    c.command("SELECT INBOX")
    c.command("STORE 1 +FLAGS (\\Deleted)")
    u, done = c.command("UNAUTHENTICATE", tag="A03")
    assert u == [] and done == b"A03 OK Unauthenticate completed"
    # the message marked \Deleted was not expunged (no CLOSE)
    assert len(os.listdir(os.path.join(srv.maildir(first), "cur"))) == 1
    # not authenticated: no mailbox commands, LOGIN offered again
    for cmd in ("SELECT INBOX", "FETCH 1 FLAGS", "LIST \"\" *", "UNAUTHENTICATE"):
        _, done = c.command(cmd)
        assert rest(done).startswith(b"BAD"), (cmd, done)
    caps = flat(c.command("CAPABILITY")[0])[0].split()
    assert b"AUTH=PLAIN" in caps and b"STARTTLS" not in caps
    _, done = c.command(f'LOGIN {second} "wrong"')
    assert rest(done).startswith(b"NO [AUTHENTICATIONFAILED]")
    c.login(second)
    u, _ = c.command("SELECT INBOX")
    assert b"* 2 EXISTS" in flat(u)
    u, _ = c.command("FETCH 1:* (BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert b"second's" in flat(u)[0] and b"first's" not in b"".join(flat(u))
    c.command("LOGOUT")
    srv.wait_log(f"unauthenticate user={first}")


def test_unauthenticate_keeps_compression(srv):
    user = fresh_user(srv)
    z = ZRaw(srv, "imaps")
    z.r.login(user)
    z.compress_start()
    z.send(b"u1 UNAUTHENTICATE\r\n")
    assert z.until(b"u1") == [b"u1 OK Unauthenticate completed"]
    z.send(f'u2 LOGIN {user} "{PASSWORD}"\r\n'.encode())
    assert z.until(b"u2")[-1].startswith(b"u2 OK")
    z.send(b"u3 COMPRESS DEFLATE\r\n")
    assert z.until(b"u3")[-1].startswith(b"u3 NO [COMPRESSIONACTIVE]")
