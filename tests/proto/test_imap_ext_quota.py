"""QUOTA (RFC 9208) over STARTTLS and IMAPS: GETQUOTA, GETQUOTAROOT, the
STORAGE and MESSAGE resources of a mailbox, the config limit and a user's
own userdb_quota_rule, APPEND/COPY refused with NO [OVERQUOTA], MOVE and
EXPUNGE, SMTP delivery over quota answered 452 4.2.2, the Maildir++
maildirsize file, STATUS DELETED-STORAGE."""
import os
import smtplib

import pytest

from imap_sel_util import MODES, RawImap, flat, imap_server, place, rest

_users = [0]


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    s = imap_server(tmp_path_factory.mktemp("imapquota"),
                    limits="quota = 10K\nquota_messages = 20")
    yield s
    s.check_clean_exit()


def fresh_user(srv, rule=None):
    _users[0] += 1
    user = f"q{_users[0]}@example.test"
    srv.add_user(user)
    if rule is not None:
        path = os.path.join(srv.data, "passwd")
        lines = open(path).read().splitlines()
        lines = [ln + f":::::: {rule}" if ln.startswith(user + ":") else ln
                 for ln in lines]
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
    return user


def append(c, size, box="INBOX", tag="a"):
    msg = b"Subject: s\r\n\r\n" + b"x" * (size - 16) + b"\r\n"
    assert len(msg) == size
    c.send(b"%s APPEND %s {%d+}\r\n" % (tag.encode(), box.encode(), size) + msg + b"\r\n")
    return c.until(tag)


@pytest.mark.parametrize("mode", MODES)
def test_quota_rfc9208(srv, mode):
    user = fresh_user(srv)
    c = RawImap(srv, mode).login(user)
    caps = flat(c.command("CAPABILITY")[0])[0].split()
    for cap in (b"QUOTA", b"QUOTA=RES-STORAGE", b"QUOTA=RES-MESSAGE"):
        assert cap in caps
    u, done = c.command("GETQUOTAROOT INBOX", tag="G0002")
    assert flat(u) == [b'* QUOTAROOT INBOX ""', b'* QUOTA "" (STORAGE 0 10 MESSAGE 0 20)']
    assert rest(done) == b"OK Getquotaroot completed"
    # 4 KiB twice fit, a third does not
    for i in range(2):
        _, done = append(c, 4096, tag=f"a{i}")
        assert b"OK [APPENDUID" in done, done
    u, _ = c.command('GETQUOTA ""', tag="G0001")
    assert flat(u) == [b'* QUOTA "" (STORAGE 8 10 MESSAGE 2 20)']
    _, done = append(c, 4096, tag="a3")
    assert done == b"a3 NO [OVERQUOTA] Quota exceeded (mailbox for user is full)"
    # refused before "+": a synchronising literal is never sent
    c.send(b"a4 APPEND INBOX {4096}\r\n")
    assert c.line() == b"a4 NO [OVERQUOTA] Quota exceeded (mailbox for user is full)"
    _, done = append(c, 1024, tag="a5")             # still fits
    assert b"OK" in done
    # COPY over the limit is refused; MOVE within the mailbox is not
    c.command("SELECT INBOX")
    _, done = c.command("COPY 1 Trash")
    assert rest(done) == b"NO [OVERQUOTA] Quota exceeded (mailbox for user is full)"
    _, done = c.command("MOVE 1 Trash")
    assert b"OK" in done
    u, _ = c.command("GETQUOTAROOT Trash")
    assert flat(u) == [b'* QUOTAROOT Trash ""', b'* QUOTA "" (STORAGE 9 10 MESSAGE 3 20)']
    # expunge makes room
    c.command("STORE 1 +FLAGS (\\Deleted)")
    u, _ = c.command("STATUS INBOX (DELETED-STORAGE DELETED)")
    assert flat(u) == [b"* STATUS INBOX (DELETED-STORAGE 4 DELETED 1)"]
    c.command("EXPUNGE")
    u, _ = c.command('GETQUOTA ""')
    assert flat(u) == [b'* QUOTA "" (STORAGE 5 10 MESSAGE 2 20)']
    _, done = append(c, 4096, tag="a6")
    assert b"OK" in done
    # the usage is the Maildir++ maildirsize file
    text = open(os.path.join(srv.maildir(user), "maildirsize")).read().splitlines()
    assert text[0] == "10240S,20C", text
    assert sum(int(x.split()[0]) for x in text[1:]) == 4096 + 1024 + 4096
    # errors
    _, done = c.command('GETQUOTA "other"')
    assert rest(done).startswith(b"NO [NONEXISTENT]")
    _, done = c.command("GETQUOTAROOT nosuchbox")
    assert rest(done).startswith(b"NO [NONEXISTENT]")
    _, done = c.command('SETQUOTA "" (STORAGE 512)')
    assert rest(done).startswith(b"NO [NOPERM]")
    _, done = c.command("GETQUOTA")
    assert rest(done).startswith(b"BAD")
    c.command("LOGOUT")


def test_user_rule_and_messages(srv):
    big = fresh_user(srv, "userdb_quota_rule=*:storage=1M:messages=3")
    c = RawImap(srv).login(big)
    u, _ = c.command("GETQUOTAROOT INBOX")
    assert flat(u)[1] == b'* QUOTA "" (STORAGE 0 1024 MESSAGE 0 3)'
    # MULTIAPPEND counts every message
    c.send(b"m1 APPEND INBOX {3+}\r\nabc {3+}\r\ndef {3+}\r\nghi {3+}\r\njkl\r\n")
    assert c.until("m1")[1] == b"m1 NO [OVERQUOTA] Quota exceeded (mailbox for user is full)"
    c.send(b"m2 APPEND INBOX {3+}\r\nabc {3+}\r\ndef {3+}\r\nghi\r\n")
    assert b"OK [APPENDUID" in c.until("m2")[1]
    _, done = append(c, 100, tag="m3")
    assert b"NO [OVERQUOTA]" in done
    # no limit at all: no quota root
    free = fresh_user(srv, "userdb_quota_rule=*:storage=0 userdb_quota_rule2=*:messages=0")
    c = RawImap(srv).login(free)
    u, _ = c.command("GETQUOTAROOT INBOX")
    assert flat(u) == [b"* QUOTAROOT INBOX"]
    _, done = c.command('GETQUOTA ""')
    assert rest(done).startswith(b"NO [NONEXISTENT]")
    for i in range(3):
        assert b"OK" in append(c, 6000, tag=f"f{i}")[1]
    assert not os.path.exists(os.path.join(srv.maildir(free), "maildirsize"))


def test_smtp_over_quota(srv):
    user = fresh_user(srv, "userdb_quota_rule=*:storage=3K")
    other = fresh_user(srv)
    c = RawImap(srv).login(user)
    c.command("GETQUOTAROOT INBOX")       # starts the count
    small = b"Subject: hi\r\n\r\nsmall\r\n"
    with smtplib.SMTP("127.0.0.1", srv.ports["smtp"], timeout=20) as s:
        s.sendmail("a@example.org", [user], small)
        # announced too big: refused at RCPT
        s.ehlo()
        s.mail("a@example.org", ["SIZE=5000"])
        code, text = s.rcpt(user)
        assert (code, text) == (452, b"4.2.2 <" + user.encode() +
                                b">: Recipient address rejected: Mailbox full")
        s.rset()
        # not announced: refused at the end of the data, for all
        s.mail("a@example.org")
        assert s.rcpt(other)[0] == 250
        assert s.rcpt(user)[0] == 250
        s.putcmd("data")
        assert s.getreply()[0] == 354
        s.send(b"Subject: big\r\n\r\n" + b"y" * 4000 + b"\r\n.\r\n")
        code, text = s.getreply()
        assert code == 452 and text.startswith(b"4.2.2 "), (code, text)
        s.rset()
    assert len(os.listdir(os.path.join(srv.maildir(other), "new"))) == 0
    # the small one counted: the IMAP view agrees
    u, _ = c.command("GETQUOTAROOT INBOX")
    assert flat(u)[1] == b'* QUOTA "" (STORAGE 1 3 MESSAGE 1 20)'
    # over the limit by other means: refused at RCPT without SIZE
    place(srv, b"Subject: placed\r\n\r\n" + b"z" * 4000 + b"\r\n", user=user)
    os.unlink(os.path.join(srv.maildir(user), "maildirsize"))
    with smtplib.SMTP("127.0.0.1", srv.ports["smtp"], timeout=20) as s:
        s.ehlo()
        s.mail("a@example.org")
        assert s.rcpt(user)[0] == 452
    srv.wait_log("reject code=452 status=4.2.2")
