"""LIST-STATUS (RFC 5819) and STATUS SIZE/DELETED (RFC 8438, RFC 9051)
over STARTTLS and IMAPS, after the example of RFC 5819."""
import pytest

from imap_sel_util import MODES, RawImap, flat, imap_server, place, rest

_users = [0]


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    s = imap_server(tmp_path_factory.mktemp("imapliststatus"))
    yield s
    s.check_clean_exit()


def fresh_user(srv):
    _users[0] += 1
    user = f"ls{_users[0]}@example.test"
    srv.add_user(user)
    return user


@pytest.mark.parametrize("mode", MODES)
def test_list_status_rfc5819(srv, mode):
    user = fresh_user(srv)
    c = RawImap(srv, mode).login(user)
    c.command("CREATE foo")
    c.command("CREATE bar/baz")
    c.command("DELETE bar")                # bar stays as \Noselect parent
    sizes = []
    for i in range(3):
        m = f"Subject: {i}\r\n\r\n{'x' * i}\r\n".encode()
        sizes.append(len(m))
        place(srv, m, user=user, info=":2,S" if i == 0 else ":2,")
    place(srv, b"Subject: foo\r\n\r\nfoo\r\n", user=user, folder="foo",
          info=":2,ST")
    u, done = c.command('LIST "" % RETURN (STATUS (MESSAGES UNSEEN))', tag="A01")
    assert rest(done) == b"OK List completed"
    lines = flat(u)
    assert lines[:2] == [b'* LIST (\\HasNoChildren) "/" INBOX',
                         b"* STATUS INBOX (MESSAGES 3 UNSEEN 2)"]
    i = lines.index(b'* LIST (\\HasNoChildren) "/" foo')
    assert lines[i + 1] == b"* STATUS foo (MESSAGES 1 UNSEEN 0)"
    bar = [x for x in lines if x.endswith(b" bar")]
    assert bar == [b'* LIST (\\NonExistent \\HasChildren) "/" bar'], lines
    assert not any(x.startswith(b"* STATUS bar") for x in lines)
    # the special-use folders get theirs too, with other items
    u, _ = c.command('LIST (SPECIAL-USE) "" * RETURN (STATUS (UIDNEXT SIZE DELETED))')
    lines = flat(u)
    assert len(lines) == 8, lines
    for j in range(0, 8, 2):
        assert lines[j].startswith(b"* LIST (")
        name = lines[j].split()[-1]
        assert lines[j + 1] == b"* STATUS " + name + b" (UIDNEXT 1 SIZE 0 DELETED 0)"
    # STATUS itself: SIZE is the sum of RFC822.SIZE, DELETED counts \Deleted
    u, _ = c.command("STATUS INBOX (SIZE DELETED MESSAGES)")
    assert flat(u) == [b"* STATUS INBOX (SIZE %d DELETED 0 MESSAGES 3)" % sum(sizes)]
    u, _ = c.command("STATUS foo (DELETED SIZE)")
    assert flat(u) == [b"* STATUS foo (DELETED 1 SIZE 21)"]
    for bad in ('LIST "" % RETURN (STATUS)', 'LIST "" % RETURN (STATUS ())',
                'LIST "" % RETURN (STATUS (BOGUS))', 'LIST "" % RETURN (STATUS MESSAGES)'):
        _, done = c.command(bad)
        assert rest(done).startswith(b"BAD"), (bad, done)
    caps = flat(c.command("CAPABILITY")[0])[0].split()
    assert b"LIST-STATUS" in caps and b"STATUS=SIZE" in caps
    c.command("LOGOUT")
