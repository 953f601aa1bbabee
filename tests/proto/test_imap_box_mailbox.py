"""CREATE DELETE RENAME SUBSCRIBE UNSUBSCRIBE (RFC 3501 6.3.3-6.3.7):
hierarchies, INBOX rules, RFC 5530 response codes, and names that try to
leave the mailbox."""
import os

import pytest

from imap_box_util import (MODES, RawImap, all_files_under, check_no_crash, files,
                           folder_dir, imaplib_list, login)
from mailserver import Server

USERS = {mode: f"box-{mode}@example.test" for mode in MODES}
INBOXERS = {mode: f"inbox-{mode}@example.test" for mode in MODES}
EVIL = "evil@example.test"


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    s = Server(tmp_path_factory.mktemp("imapbox-mbox"),
               services=("smtp", "imap", "imaps"),
               users=(*USERS.values(), *INBOXERS.values(), EVIL))
    yield s
    check_no_crash(s)
    s.check_clean_exit()


def ok(reply):
    typ, data = reply
    assert typ == "OK", data
    return data


def no(reply, code):
    typ, data = reply
    assert typ == "NO", data
    assert data[0].startswith(b"[" + code + b"]"), data
    return data


def names(m, pattern="*"):
    return imaplib_list(m, '""', pattern)


@pytest.mark.parametrize("mode", MODES)
def test_create_delete_hierarchy(srv, mode):
    user = USERS[mode]
    m = login(srv, mode, user)
    ok(m.create("Lists/Work/2024"))           # parents come along
    got = names(m, "Lists*")
    assert got == {"Lists": {"\\HasChildren"}, "Lists/Work": {"\\HasChildren"},
                   "Lists/Work/2024": {"\\HasNoChildren"}}
    d = folder_dir(srv, user, "Lists/Work/2024")
    assert sorted(os.listdir(d)) == ["cur", "maildirfolder", "new", "tmp"]
    # RFC 3501 6.3.3: a trailing separator is only a hint.
    ok(m.create("Projects/"))
    assert names(m, "Projects") == {"Projects": {"\\HasNoChildren"}}
    no(m.create("Projects"), b"ALREADYEXISTS")
    no(m.create("Lists/Work"), b"ALREADYEXISTS")
    no(m.create("INBOX"), b"ALREADYEXISTS")
    no(m.create("inbox"), b"ALREADYEXISTS")
    ok(m.create("inbox/Child"))               # INBOX's level is INBOX
    assert "INBOX/Child" in names(m, "INBOX/*")

    # A message in Lists/Work, then DELETE of the parent with children:
    # its messages go, its name stays as \Noselect (RFC 3501 6.3.4).
    ok(m.append("Lists/Work", None, None, b"Subject: x\r\n\r\nbody\r\n"))
    assert len(files(srv, user, "Lists/Work", "cur")) == 1
    ok(m.delete("Lists/Work"))
    assert not os.path.exists(folder_dir(srv, user, "Lists/Work"))
    assert names(m, "Lists/*") == {"Lists/Work": {"\\Noselect", "\\HasChildren"},
                                   "Lists/Work/2024": {"\\HasNoChildren"}}
    # Deleting a \Noselect name with children cannot work.
    no(m.delete("Lists/Work"), b"CANNOT")
    no(m.delete("Nothing"), b"NONEXISTENT")
    no(m.delete("INBOX"), b"CANNOT")
    no(m.delete("iNbOx"), b"CANNOT")
    # CREATE makes the placeholder a folder again.
    ok(m.create("Lists/Work"))
    assert names(m, "Lists/Work") == {"Lists/Work": {"\\HasChildren"}}
    for name in ("Lists/Work/2024", "Lists/Work", "Lists", "Projects", "INBOX/Child"):
        ok(m.delete(name))
    assert set(names(m)) == {"INBOX", "Drafts", "Junk", "Sent", "Trash"}
    # Nothing half-made or half-deleted is left in the root.
    root = srv.maildir(user)
    assert sorted(n for n in os.listdir(root) if n.startswith(".")) == \
        [".Drafts", ".Junk", ".Sent", ".Trash"]
    m.logout()


@pytest.mark.parametrize("mode", MODES)
def test_rename_hierarchy(srv, mode):
    user = USERS[mode]
    m = login(srv, mode, user)
    ok(m.create("Old/A/Deep"))
    ok(m.create("Old/B"))
    ok(m.create("Oldies"))                     # a sibling sharing the prefix
    ok(m.append("Old/A", r"(\Flagged)", None, b"Subject: a\r\n\r\na\r\n"))
    before = files(srv, user, "Old/A", "cur")
    ok(m.rename("Old", "Archive/2023/Old"))
    got = names(m, "Archive*")
    assert set(got) == {"Archive", "Archive/2023", "Archive/2023/Old",
                        "Archive/2023/Old/A", "Archive/2023/Old/A/Deep",
                        "Archive/2023/Old/B"}
    assert names(m, "Old*") == {"Oldies": {"\\HasNoChildren"}}
    assert files(srv, user, "Archive/2023/Old/A", "cur") == before
    # Errors.
    no(m.rename("Nothing", "Other"), b"NONEXISTENT")
    no(m.rename("Oldies", "Archive"), b"ALREADYEXISTS")
    no(m.rename("Oldies", "INBOX"), b"ALREADYEXISTS")
    no(m.rename("Archive", "Archive/Inside"), b"CANNOT")
    ok(m.rename("Oldies", "oldies"))           # case matters outside INBOX
    assert "oldies" in names(m, "%")
    for name in ("Archive/2023/Old/A/Deep", "Archive/2023/Old/A",
                 "Archive/2023/Old/B", "Archive/2023/Old", "Archive/2023",
                 "Archive", "oldies"):
        ok(m.delete(name))
    m.logout()


@pytest.mark.parametrize("mode", MODES)
def test_rename_inbox_moves_its_messages(srv, mode):
    user = INBOXERS[mode]
    m = login(srv, mode, user)
    ok(m.create("INBOX/Keep"))
    bodies = [b"Subject: %d\r\n\r\nmessage %d\r\n" % (i, i) for i in range(3)]
    for b in bodies:
        ok(m.append("INBOX", r"(\Seen)", None, b))
    ok(m.rename("INBOX", "Saved/Inbox-2024"))
    assert files(srv, user, "INBOX", "cur") == []
    moved = files(srv, user, "Saved/Inbox-2024", "cur")
    assert len(moved) == 3 and all(n.endswith(":2,S") for n in moved)
    d = os.path.join(folder_dir(srv, user, "Saved/Inbox-2024"), "cur")
    assert sorted(open(os.path.join(d, n), "rb").read() for n in moved) == sorted(bodies)
    # INBOX stays, empty, with its children; the new folder has UIDs 1..3.
    got = names(m)
    assert got["INBOX"] == {"\\HasChildren"} and "INBOX/Keep" in got
    typ, data = m.status("Saved/Inbox-2024", "(MESSAGES UIDNEXT UNSEEN)")
    assert data == [b"Saved/Inbox-2024 (MESSAGES 3 UIDNEXT 4 UNSEEN 0)"]
    typ, data = m.status("INBOX", "(MESSAGES)")
    assert data == [b"INBOX (MESSAGES 0)"]
    m.logout()


# Names that must never become paths outside the mailbox (or be created at
# all), as quoted strings or literals.
BAD_NAMES = ["../x", "a/../../b", "..", ".", ".hidden", "a/.b", "/abs", "a//b",
             "a/", "../../../../etc/passwd", "x/..", "a%b", "a*b",
             "&Jjo", "Entw\u00fcrfe", "a\tb", "\u0001", "x" * 201,
             "/".join(["d"] * 17), ""]


def send_name(c, verb, name, extra=""):
    """verb with name as a literal (the only way to send some bytes)."""
    data = name.encode()
    c.send(b"z1 " + verb.encode() + b" {%d+}\r\n" % len(data) + data +
           extra.encode() + b"\r\n")
    return c.until_tagged(b"z1")[-1]


@pytest.mark.parametrize("mode", MODES)
def test_names_never_leave_the_mailbox(srv, mode):
    data_dir = srv.data
    before = all_files_under(data_dir)
    c = RawImap(srv, mode, EVIL)
    for name in BAD_NAMES:
        for verb, extra in (("CREATE", ""), ("DELETE", ""), ("SUBSCRIBE", ""),
                            ("STATUS", " (MESSAGES)"), ("RENAME", " Target"),
                            ("RENAME Sent", "")):
            if verb == "RENAME Sent":
                line = send_name(c, "RENAME Sent", name)
            else:
                line = send_name(c, verb, name, extra)
            if name == "a/" and verb == "CREATE":
                # RFC 3501: the trailing separator is dropped: "a" is made.
                assert line == b"z1 OK Create completed", line
                tag, lines = c.cmd("DELETE a")
                assert lines[-1].endswith(b"OK Delete completed")
                continue
            assert line.startswith(b"z1 NO ["), (verb, name, line)
            assert (b"[CANNOT]" in line or b"[NONEXISTENT]" in line), (verb, name, line)
    # APPEND to such names: refused before the message is asked for.
    for name in BAD_NAMES[:6]:
        tag, lines = c.cmd(f'APPEND "{name}" {{5}}')
        assert lines[-1].startswith(tag + b" NO [CANNOT]"), lines
    tag, lines = c.cmd("NOOP")
    assert lines[-1] == tag + b" OK NOOP completed"
    c.close()
    # Nothing appeared anywhere under data_dir (lock files aside).
    after = all_files_under(data_dir)
    strip = lambda v: [p for p in v if not p.endswith(".lock")]
    assert strip(after) == strip(before), set(after) ^ set(before)
    assert not os.path.exists(os.path.join(os.path.dirname(data_dir), "x"))


def test_long_and_deep_names(srv):
    m = login(srv, "imaps", EVIL)
    longest = "L" * 200
    ok(m.create(longest))
    assert longest in names(m, "L*")
    no(m.create("L" * 201), b"CANNOT")
    deep = "/".join(["d"] * 16)
    ok(m.create(deep))
    no(m.create(deep + "/e"), b"CANNOT")
    # A rename that would make a child's name too long is refused whole.
    ok(m.create("P/" + "c" * 190))
    no(m.rename("P", "Q" * 20), b"CANNOT")
    assert "P/" + "c" * 190 in names(m, "P/*")
    ok(m.delete("P/" + "c" * 190))
    ok(m.delete("P"))
    for i in range(16, 0, -1):
        ok(m.delete("/".join(["d"] * i)))
    ok(m.delete(longest))
    m.logout()
    # A name longer than any literal we buffer: the command is refused.
    c = RawImap(srv, "imaps", EVIL)
    c.send(b"z1 CREATE {70000}\r\n")
    line = c.line()
    assert line.startswith(b"z1 BAD") or line.startswith(b"z1 NO"), line
    tag, lines = c.cmd("NOOP")
    assert lines[-1] == tag + b" OK NOOP completed"
    c.close()


def test_syntax_errors(srv):
    c = RawImap(srv, "starttls", EVIL)
    for bad in ["CREATE", "CREATE a b", "DELETE", "RENAME a", "RENAME a b c",
                "SUBSCRIBE", "UNSUBSCRIBE a b", "CREATE (a)", "DELETE \"unterminated"]:
        tag, lines = c.cmd(bad)
        assert lines[-1].startswith(tag + b" BAD"), (bad, lines)
    c.close()
