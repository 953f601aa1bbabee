"""STATUS (RFC 3501 6.3.10): every item, and that asking never takes
\\Recent away from the session that selects the mailbox next."""
import os
import re
import smtplib

import pytest

from imap_box_util import MODES, RawImap, check_no_crash, files, login
from mailserver import Server

USERS = {mode: f"status-{mode}@example.test" for mode in MODES}


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    s = Server(tmp_path_factory.mktemp("imapbox-status"),
               services=("smtp", "imap", "imaps"), users=tuple(USERS.values()))
    yield s
    check_no_crash(s)
    s.check_clean_exit()


def deliver(srv, rcpt, n):
    with smtplib.SMTP("127.0.0.1", srv.ports["smtp"], timeout=60) as s:
        for i in range(n):
            s.sendmail("sender@remote.test", [rcpt],
                       b"Subject: delivered %d\r\n\r\nhello\r\n" % i)


def uidvalidity_on_disk(srv, user, folder=""):
    path = os.path.join(srv.maildir(user, folder), "sealpost-uidlist")
    with open(path) as f:
        return int(re.match(r"sealpost-uidlist \d+ V(\d+) ", f.readline()).group(1))


def status(c, name, items="(MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN)"):
    tag, lines = c.cmd(f"STATUS {name} {items}")
    assert lines[-1] == tag + b" OK Status completed", lines
    assert len(lines) == 2, lines
    return lines[0]


def parse(line):
    m = re.match(rb"\* STATUS (\S+|\"[^\"]*\") \((.*)\)$", line)
    assert m, line
    words = m.group(2).split()
    return {words[i].decode(): int(words[i + 1]) for i in range(0, len(words), 2)}


@pytest.mark.parametrize("mode", MODES)
def test_status_items_and_recent_kept(srv, mode):
    user = USERS[mode]
    m = login(srv, mode, user)
    assert m.append("INBOX", r"(\Seen)", None, b"Subject: a\r\n\r\na\r\n")[0] == "OK"
    assert m.append("INBOX", None, None, b"Subject: b\r\n\r\nb\r\n")[0] == "OK"
    m.logout()
    deliver(srv, user, 2)
    assert len(files(srv, user, "INBOX", "new")) == 2

    c = RawImap(srv, mode, user)
    st = parse(status(c, "INBOX"))
    # Appended and delivered alike: \Recent until a SELECT takes them.
    assert st == {"MESSAGES": 4, "RECENT": 4, "UIDNEXT": 5,
                  "UIDVALIDITY": uidvalidity_on_disk(srv, user), "UNSEEN": 3}
    # Asked again (another session too): the same, new/ untouched.
    assert parse(status(c, "inbox")) == st
    c2 = RawImap(srv, mode, user)
    assert parse(status(c2, "INBOX")) == st
    assert len(files(srv, user, "INBOX", "new")) == 2
    # Each item alone, in the order asked, repeats once, any case.
    for item in st:
        assert status(c, "INBOX", f"({item})") == \
            b"* STATUS INBOX (%s %d)" % (item.encode(), st[item])
    assert status(c, "INBOX", "(unseen messages UNSEEN)") == \
        b"* STATUS INBOX (UNSEEN 3 MESSAGES 4)"

    # The session that selects next still gets \Recent (once SELECT exists;
    # before that the files still in new/ are the proof).
    tag, lines = c2.cmd("SELECT INBOX")
    if lines[-1].startswith(tag + b" OK"):
        assert b"* 4 RECENT" in lines, lines
        assert b"* 4 EXISTS" in lines, lines
        # STATUS of the selected mailbox works too; nothing is new now.
        st2 = parse(status(c2, "INBOX"))
        assert st2["RECENT"] == 0 and st2["MESSAGES"] == 4 and st2["UIDNEXT"] == 5
    else:
        assert lines[-1] == tag + b" BAD Unknown command", lines
    c2.close()
    c.close()


def test_status_other_folders_and_errors(srv):
    user = USERS["imaps"]
    c = RawImap(srv, "imaps", user)
    for name in ("Lists/Work", "Entw&APw-rfe", '"a b"'):
        tag, lines = c.cmd(f"CREATE {name}")
        assert lines[-1].endswith(b"OK Create completed")
    st = parse(status(c, "Sent"))
    assert st == {"MESSAGES": 0, "RECENT": 0, "UIDNEXT": 1,
                  "UIDVALIDITY": uidvalidity_on_disk(srv, user, "Sent"), "UNSEEN": 0}
    assert status(c, "Entw&APw-rfe", "(MESSAGES)") == b"* STATUS Entw&APw-rfe (MESSAGES 0)"
    assert status(c, '"a b"', "(MESSAGES)") == b'* STATUS "a b" (MESSAGES 0)'
    # Every folder has its own UIDVALIDITY.
    assert parse(status(c, "Lists/Work"))["UIDVALIDITY"] != st["UIDVALIDITY"]
    for name, code in (("Nothing", b"NONEXISTENT"), ("Lists/Nothing", b"NONEXISTENT"),
                       ("../Sent", b"CANNOT")):
        tag, lines = c.cmd(f"STATUS {name} (MESSAGES)")
        assert lines == [lines[-1]] and lines[-1].startswith(tag + b" NO [" + code + b"]"), lines
    tag, lines = c.cmd("DELETE Lists")
    tag, lines = c.cmd("STATUS Lists (MESSAGES)")       # \Noselect: no status
    assert lines[-1].startswith(tag + b" NO [NONEXISTENT]"), lines
    for bad in ("STATUS INBOX", "STATUS INBOX ()", "STATUS INBOX (BOGUS)",
                "STATUS INBOX MESSAGES", "STATUS (MESSAGES)",
                "STATUS INBOX (MESSAGES) extra"):
        tag, lines = c.cmd(bad)
        assert lines == [lines[-1]] and lines[-1].startswith(tag + b" BAD"), (bad, lines)
    c.close()


def test_status_stable_across_restart(srv):
    user = USERS["starttls"]
    c = RawImap(srv, "starttls", user)
    before = parse(status(c, "INBOX"))
    c.close()
    assert srv.stop() == 0
    srv.start()
    c = RawImap(srv, "imaps", user)
    after = parse(status(c, "INBOX"))
    assert after["UIDVALIDITY"] == before["UIDVALIDITY"]
    assert after["UIDNEXT"] == before["UIDNEXT"] and after["MESSAGES"] == before["MESSAGES"]
    c.close()
