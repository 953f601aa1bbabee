"""LIST and LSUB (RFC 3501 6.3.8/6.3.9) with wildcards on a hierarchy,
CHILDREN and SPECIAL-USE attributes, LIST-EXTENDED forms, over STARTTLS,
IMAPS and curl."""
import os
import subprocess

import pytest

from imap_box_util import (MODES, RawImap, check_no_crash, imaplib_list, login,
                           parse_list_line, raw_list)
from mailserver import PASSWORD, Server

USER = "lister@example.test"
SUBS = "subs@example.test"
HAS = "\\HasChildren"
NO = "\\HasNoChildren"

TREE = ["Lists/Work/2024", "Lists/Home", "Projects", "Entw&APw-rfe", "a b",
        "INBOX/Sub", "Old/Child", 'q"uote']


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    s = Server(tmp_path_factory.mktemp("imapbox-list"),
               services=("smtp", "imap", "imaps"), users=(USER, SUBS))
    m = login(s, "imaps", USER)
    for name in TREE:
        assert m.create(f'"{name}"' if name != 'q"uote' else '"q\\"uote"')[0] == "OK"
    # "Old" goes; its child keeps the name as a \Noselect parent.
    assert m.delete("Old")[0] == "OK"
    m.logout()
    yield s
    check_no_crash(s)
    s.check_clean_exit()


ALL = {
    "INBOX": {HAS}, "INBOX/Sub": {NO},
    "Drafts": {NO, "\\Drafts"}, "Junk": {NO, "\\Junk"}, "Sent": {NO, "\\Sent"},
    "Trash": {NO, "\\Trash"},
    "Entw&APw-rfe": {NO}, "Lists": {HAS}, "Lists/Home": {NO},
    "Lists/Work": {HAS}, "Lists/Work/2024": {NO},
    "Old": {"\\Noselect", HAS}, "Old/Child": {NO}, "Projects": {NO},
    "a b": {NO}, 'q"uote': {NO},
}


def only(*names):
    return {n: ALL[n] for n in names}


TOP = only("INBOX", "Drafts", "Junk", "Sent", "Trash", "Entw&APw-rfe", "Lists",
           "Old", "Projects", "a b", 'q"uote')

CASES = [
    ('""', "*", ALL),
    ('""', "%", TOP),
    ('""', "Lists/%", only("Lists/Home", "Lists/Work")),
    ('"Lists/"', "%", only("Lists/Home", "Lists/Work")),
    ('""', "Lists/*", only("Lists/Home", "Lists/Work", "Lists/Work/2024")),
    ('"Lists/"', "*", only("Lists/Home", "Lists/Work", "Lists/Work/2024")),
    ('""', "*/2024", only("Lists/Work/2024")),
    ('""', "%/%", only("INBOX/Sub", "Lists/Home", "Lists/Work", "Old/Child")),
    ('""', "%/%/%", only("Lists/Work/2024")),
    ('""', "L%", only("Lists")),
    ('""', "L*", only("Lists", "Lists/Home", "Lists/Work", "Lists/Work/2024")),
    # INBOX's letters match in any case, the others do not.
    ('""', "*o*", only("INBOX", "INBOX/Sub", "Lists/Home", "Lists/Work",
                       "Lists/Work/2024", "Projects", 'q"uote')),
    ('""', "%e%", only("Entw&APw-rfe", "Projects", "Sent", 'q"uote')),
    ('""', "inbox", only("INBOX")),
    ('""', "InBoX/%", only("INBOX/Sub")),
    ('""', "inbox*", only("INBOX", "INBOX/Sub")),
    ('""', "lists", {}),
    ('""', "Nothing/%", {}),
    ('""', "Old", only("Old")),
    ('""', '"a b"', only("a b")),
    ('""', "Entw&APw-rfe", only("Entw&APw-rfe")),
    ('""', "**%%*", ALL),
]


def test_wildcard_cases(srv):
    m = login(srv, "imaps", USER)
    for ref, pattern, want in CASES:
        got = imaplib_list(m, ref, pattern)
        assert got == want, (ref, pattern, got)
    m.logout()


@pytest.mark.parametrize("mode", MODES)
def test_list_over_both_transports(srv, mode):
    c = RawImap(srv, mode, USER)
    got, tagged = raw_list(c, 'LIST "" "*"')
    assert tagged.endswith(b"OK List completed")
    assert got == ALL
    # The separator query (RFC 3501 6.3.8), with and without a reference.
    for ref in ('""', '"Lists/Work"', "Lists"):
        tag, lines = c.cmd(f'LIST {ref} ""')
        assert lines == [b'* LIST (\\Noselect) "/" ""', tag + b" OK List completed"]
    # Quoting: a space and a quote need a quoted string; atoms stay atoms.
    tag, lines = c.cmd('LIST "" "*u*"')
    assert b'* LIST (\\HasNoChildren) "/" "q\\"uote"' in lines
    assert b'* LIST (\\HasNoChildren) "/" INBOX/Sub' in lines
    tag, lines = c.cmd('LIST "" "a b"')
    assert lines[0] == b'* LIST (\\HasNoChildren) "/" "a b"'
    # Literals as arguments.
    c.send(b'x1 LIST {0}\r\n')
    assert c.line() == b"+ OK"
    c.send(b' {6+}\r\nLists*\r\n')
    lines = c.until_tagged(b"x1")
    assert len(lines) == 5 and lines[-1] == b"x1 OK List completed"
    c.close()


def test_list_syntax_errors(srv):
    c = RawImap(srv, "imaps", USER)
    for bad in ['LIST', 'LIST ""', 'LIST "" * extra', 'LIST (BOGUS) "" *',
                'LIST (RECURSIVEMATCH) "" *', 'LIST "" * RETURN (BOGUS)',
                'LIST "" * RETURN', 'LIST "" ()', 'LSUB (SUBSCRIBED) "" *',
                'LSUB "" ("a" "b")', 'LIST "" * RETURN (STATUS (BOGUS))']:
        tag, lines = c.cmd(bad)
        assert lines[-1].startswith(tag + b" BAD"), (bad, lines)
    tag, lines = c.cmd("NOOP")
    assert lines[-1] == tag + b" OK NOOP completed"
    c.close()
    # Not before login.
    c = RawImap(srv, "imaps")
    tag, lines = c.cmd('LIST "" *')
    assert lines[-1] == tag + b" BAD LIST is not allowed before login"
    c.close()


def test_list_extended(srv):
    c = RawImap(srv, "imaps", USER)
    tag, lines = c.cmd("CAPABILITY")
    assert b"LIST-EXTENDED" in lines[0] and b"SPECIAL-USE" in lines[0]
    got, tagged = raw_list(c, 'LIST (SPECIAL-USE) "" "*"')
    assert got == only("Drafts", "Junk", "Sent", "Trash")
    # Several patterns; a placeholder parent is \NonExistent here.
    got, _ = raw_list(c, 'LIST "" ("Lists/%" "Old" Sent)')
    assert got == {"Lists/Home": {NO}, "Lists/Work": {HAS}, "Sent": {NO, "\\Sent"},
                   "Old": {"\\NonExistent", HAS}}
    got, _ = raw_list(c, 'LIST () "" "%" RETURN (CHILDREN SPECIAL-USE)')
    assert set(got) == set(TOP) and got["Sent"] == {NO, "\\Sent"}
    for name in ("Lists/Work/2024", "Sent", "Gone/Deeper"):
        assert c.cmd(f"SUBSCRIBE {name}")[1][-1].endswith(b"OK Subscribe completed")
    got, _ = raw_list(c, 'LIST "" "*" RETURN (SUBSCRIBED)')
    assert got["Sent"] == {NO, "\\Sent", "\\Subscribed"}
    assert got["Lists/Work/2024"] == {NO, "\\Subscribed"}
    assert got["Lists/Work"] == {HAS} and "Gone/Deeper" not in got
    got, _ = raw_list(c, 'LIST (SUBSCRIBED) "" "*"')
    assert got == {"Lists/Work/2024": {NO, "\\Subscribed"},
                   "Sent": {NO, "\\Sent", "\\Subscribed"},
                   "Gone/Deeper": {"\\Subscribed", "\\NonExistent"}}
    got, _ = raw_list(c, 'LIST (SUBSCRIBED SPECIAL-USE) "" "*"')
    assert set(got) == {"Sent"}
    # RECURSIVEMATCH: parents of subscribed names, with CHILDINFO.
    tag, lines = c.cmd('LIST (SUBSCRIBED RECURSIVEMATCH) "" "%"')
    parsed = {n: (a, e) for n, a, e in map(parse_list_line, lines[:-1])}
    assert parsed == {
        "Lists": ({HAS}, b'("CHILDINFO" ("SUBSCRIBED"))'),
        "Sent": ({NO, "\\Sent", "\\Subscribed"}, b""),
        "Gone": ({"\\NonExistent"}, b'("CHILDINFO" ("SUBSCRIBED"))'),
    }, lines
    for name in ("Lists/Work/2024", "Sent", "Gone/Deeper"):
        c.cmd(f"UNSUBSCRIBE {name}")
    c.close()


@pytest.mark.parametrize("mode", MODES)
def test_lsub(srv, mode):
    m = login(srv, mode, SUBS)
    assert m.create("Lists/Work/2024")[0] == "OK"
    for name in ("Lists/Work/2024", "Sent", "Gone", "INBOX", "Also/Gone"):
        assert m.subscribe(name)[0] == "OK"
    assert m.subscribe("Sent")[0] == "OK"        # twice: still once
    lsub = lambda pattern: imaplib_list(m, '""', pattern, cmd="lsub")
    assert lsub("*") == {"INBOX": set(), "Sent": set(), "Lists/Work/2024": set(),
                         "Gone": {"\\Noselect"}, "Also/Gone": {"\\Noselect"}}
    # RFC 3501 6.3.9: "%" returns the unsubscribed parent, \Noselect.
    assert lsub("%") == {"INBOX": set(), "Sent": set(), "Gone": {"\\Noselect"},
                         "Lists": {"\\Noselect"}, "Also": {"\\Noselect"}}
    assert lsub("Lists/%") == {"Lists/Work": {"\\Noselect"}}
    assert lsub("Lists/Work/%") == {"Lists/Work/2024": set()}
    assert lsub("Lists/*") == {"Lists/Work/2024": set()}
    assert lsub("inbox") == {"INBOX": set()}
    assert lsub("Nothing*") == {}
    typ, data = m.lsub('""', '""')
    assert data == [b'(\\Noselect) "/" ""']
    # Subscribing a parent makes it a real entry.
    assert m.subscribe("Lists")[0] == "OK"
    assert lsub("%")["Lists"] == set()
    # UNSUBSCRIBE round trip, the name need not exist; twice is fine.
    for name in ("Gone", "Also/Gone", "Lists", "Lists/Work/2024", "Sent", "INBOX"):
        assert m.unsubscribe(name)[0] == "OK"
    assert m.unsubscribe("Gone")[0] == "OK"
    assert lsub("*") == {}
    with open(os.path.join(srv.maildir(SUBS), "subscriptions")) as f:
        assert f.read() == ""
    assert m.delete("Lists/Work/2024")[0] == "OK"
    assert m.delete("Lists/Work")[0] == "OK"
    assert m.delete("Lists")[0] == "OK"
    m.logout()


def test_curl_lists_over_imaps_and_starttls(srv):
    crt = os.path.join(srv.certs, "mail.crt")
    for url, extra in ((f"imaps://localhost:{srv.ports['imaps']}/", []),
                       (f"imap://localhost:{srv.ports['imap']}/", ["--ssl-reqd"])):
        r = subprocess.run(["curl", "-sS", "--max-time", "30", "--cacert", crt,
                            "--user", f"{USER}:{PASSWORD}", *extra, url],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        lines = r.stdout.splitlines()
        assert '* LIST (\\HasChildren) "/" INBOX' in lines
        assert '* LIST (\\HasNoChildren \\Sent) "/" Sent' in lines
        assert '* LIST (\\Noselect \\HasChildren) "/" Old' in lines
        assert len(lines) == len(ALL)
