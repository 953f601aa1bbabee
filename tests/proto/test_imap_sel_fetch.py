"""IMAP FETCH: every item on the MIME corpus (BODYSTRUCTURE, BODY and
ENVELOPE against the hand-checked answers), BODY[] byte-exact against what
SMTP stored, sections and partial ranges, \\Seen, LF-only files, the MIME
cache, a 20 MB message streamed in bounded memory, curl."""
import os
import re
import socket
import subprocess
import time

import pytest

from imap_sel_util import (ALICE, MODES, PASSWORD, RawImap, corpus, deliver, flat,
                           imap_server, login, place, raw, rest, simple_message,
                           take_recent)

CORPUS_NAMES = ["plain", "alternative", "mixed_attach", "nested_rfc822", "signed",
                "encoded_headers", "missing_boundary", "unterminated", "lf_only",
                "deep_nesting", "huge_header", "digest", "rfc2231"]
_users = [0]


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    s = imap_server(tmp_path_factory.mktemp("imapfetch"), extra="log_level = debug")
    yield s
    s.check_clean_exit()


def fresh_user(srv):
    _users[0] += 1
    user = f"fetch{_users[0]}@example.test"
    srv.add_user(user)
    return user


def crlf(data):
    """The CRLF form of a message: every bare LF as CRLF."""
    return re.sub(rb"(?<!\r)\n", b"\r\n", data)


@pytest.fixture(scope="module")
def corpus_box(srv):
    """A user whose INBOX holds the corpus in order (as another program
    wrote it: files in cur/)."""
    user = fresh_user(srv)
    c = RawImap(srv).login(user)
    base = int(time.time()) - 1000
    for i, name in enumerate(CORPUS_NAMES):
        place(srv, corpus(name), user=user, mtime=base + i)
    c.command("LOGOUT")
    return user


def expected(name, what):
    data = corpus(name, what)
    if name == "lf_only" and what != "envelope":
        # IMAP counts the CRLF form: "line one\nline two" is 18 octets
        data = re.sub(rb'"7bit" 17 1([ )])', rb'"7bit" 18 1\1', data)
    return data


@pytest.mark.parametrize("mode", MODES)
def test_corpus_structure_and_envelope(srv, corpus_box, mode):
    c = RawImap(srv, mode).login(corpus_box)
    u, done = c.command("EXAMINE INBOX")
    assert b"* %d EXISTS" % len(CORPUS_NAMES) in flat(u)
    for seq, name in enumerate(CORPUS_NAMES, 1):
        for item, ext in (("BODYSTRUCTURE", "bodystructure"), ("BODY", "body"),
                          ("ENVELOPE", "envelope")):
            u, done = c.command(f"FETCH {seq} {item}")
            assert rest(done) == b"OK Fetch completed"
            want = b"* %d FETCH (%s %s)" % (seq, item.encode(), expected(name, ext))
            assert raw(u[0]) == want, (name, item)
        data = crlf(corpus(name))
        u, _ = c.command(f"FETCH {seq} (RFC822.SIZE BODY.PEEK[])")
        assert u[0][0] == b"* %d FETCH (RFC822.SIZE %d BODY[] {%d}" % (seq, len(data), len(data))
        assert u[0][1] == data and u[0][2] == b")", name
    c.command("LOGOUT")


def test_corpus_sections(srv, corpus_box):
    c = RawImap(srv, "starttls").login(corpus_box)
    c.command("EXAMINE INBOX")
    seq = CORPUS_NAMES.index("nested_rfc822") + 1
    data = corpus("nested_rfc822")
    u, _ = c.command(f"FETCH {seq} (BODY.PEEK[2.HEADER] BODY.PEEK[2.1] "
                     f"BODY.PEEK[2.MIME] BODY.PEEK[9] BODY.PEEK[2.TEXT]<0.20> "
                     f"BODY.PEEK[HEADER.FIELDS (Subject MESSAGE-ID)] "
                     f"BODY.PEEK[1.2.3.HEADER])")
    p = u[0]
    inner = data[data.index(b"Date: Wed, 15 May"):data.index(b"\r\n--outer--")]
    inner_hdr = inner[:inner.index(b"\r\n\r\n") + 4]
    assert p[0].endswith(b"BODY[2.HEADER] {%d}" % len(inner_hdr)) and p[1] == inner_hdr
    assert p[2] == b" BODY[2.1] {23}" and p[3] == b"Your order has shipped."
    mime = b"Content-Type: message/rfc822\r\nContent-Disposition: inline\r\n\r\n"
    assert p[4] == b" BODY[2.MIME] {%d}" % len(mime) and p[5] == mime
    assert p[6] == b" BODY[9] NIL BODY[2.TEXT]<0> {20}"
    assert p[7] == inner[len(inner_hdr):len(inner_hdr) + 20]
    assert p[8] == b" BODY[HEADER.FIELDS (Subject MESSAGE-ID)] {%d}" % len(p[9])
    assert p[9] == (b"Subject: Fwd: Your order has shipped\r\n"
                    b"Message-ID: <fwd-1@example.test>\r\n\r\n")
    assert p[10] == b" BODY[1.2.3.HEADER] NIL)"
    c.command("LOGOUT")


@pytest.mark.parametrize("mode", MODES)
def test_smtp_body_byte_exact(srv, mode):
    user = fresh_user(srv)
    RawImap(srv).login(user).command("LOGOUT")
    msg = corpus("mixed_attach")
    deliver(srv, msg, rcpt=user)
    stored = srv.messages(user)[0]
    c = RawImap(srv, mode).login(user)
    c.command("SELECT INBOX")
    u, _ = c.command("FETCH 1 (BODY.PEEK[] RFC822.SIZE RFC822.HEADER BODY.PEEK[TEXT] "
                     "BODY.PEEK[]<0.10> BODY.PEEK[]<5.100000000> BODY.PEEK[]<99999999.5>)")
    p = u[0]
    hdr_end = stored.index(b"\r\n\r\n") + 4
    assert p[0] == b"* 1 FETCH (BODY[] {%d}" % len(stored) and p[1] == stored
    assert p[2] == b" RFC822.SIZE %d RFC822.HEADER {%d}" % (len(stored), hdr_end)
    assert p[3] == stored[:hdr_end]
    assert p[5] == stored[hdr_end:]
    assert p[6] == b" BODY[]<0> {10}" and p[7] == stored[:10]
    assert p[8] == b" BODY[]<5> {%d}" % (len(stored) - 5) and p[9] == stored[5:]
    assert p[10] == b" BODY[]<99999999> {0}" and p[11] == b"" and p[12] == b")"
    # with imaplib too
    m = login(srv, mode, user)
    m.select("INBOX", readonly=True)
    typ, data = m.fetch("1", "(RFC822)")
    assert data[0][1] == stored
    m.logout()
    c.command("LOGOUT")


def test_seen_flag_rules(srv):
    user = fresh_user(srv)
    c = RawImap(srv).login(user)
    for i in range(5):
        place(srv, simple_message(f"seen{i}"), user=user)
    take_recent(srv, user)
    c.command("SELECT INBOX")
    u, _ = c.command("FETCH 1 (BODY.PEEK[] RFC822.HEADER BODY.PEEK[TEXT])")
    assert b"FLAGS" not in raw(u[0])
    u, _ = c.command("FETCH 1 BODY[HEADER]")
    assert raw(u[0]).endswith(b" FLAGS (\\Seen))")      # set now, so told
    u, _ = c.command("FETCH 1 BODY[]")
    assert b"FLAGS" not in raw(u[0])                    # already seen
    u, _ = c.command("FETCH 2 RFC822.TEXT")
    assert raw(u[0]).endswith(b" FLAGS (\\Seen))")
    u, _ = c.command("FETCH 3 (FLAGS RFC822)")
    assert raw(u[0]).startswith(b"* 3 FETCH (FLAGS (\\Seen) RFC822 {")
    u, _ = c.command("UID FETCH 4 (BODY[1])")
    assert b"UID 4" in u[0][0] and raw(u[0]).endswith(b"FLAGS (\\Seen))")
    # another session sees them
    m = login(srv, "imaps", user)
    m.select("INBOX", readonly=True)
    typ, data = m.fetch("1:5", "(FLAGS)")
    assert [b"\\Seen" in d for d in data] == [True, True, True, True, False]
    m.logout()


def test_macros_and_uid_fetch(srv):
    user = fresh_user(srv)
    c = RawImap(srv).login(user)
    place(srv, simple_message("macro"), user=user, info=":2,F")
    take_recent(srv, user)
    c.command("SELECT INBOX")
    u, _ = c.command("FETCH 1 FAST")
    assert re.fullmatch(rb'\* 1 FETCH \(FLAGS \(\\Flagged\) INTERNALDATE "\d\d-\w{3}-\d{4} '
                        rb'\d\d:\d\d:\d\d \+0000" RFC822.SIZE \d+\)', raw(u[0]))
    u, _ = c.command("FETCH 1 ALL")
    assert b" ENVELOPE (" in raw(u[0]) and b"BODY (" not in raw(u[0])
    u, _ = c.command("FETCH 1 FULL")
    assert b" ENVELOPE (" in raw(u[0]) and b' BODY ("text" "plain"' in raw(u[0])
    u, _ = c.command("UID FETCH 1:* (FLAGS)")
    assert raw(u[0]) == b"* 1 FETCH (UID 1 FLAGS (\\Flagged))"
    u, _ = c.command("UID FETCH 1 (UID RFC822.SIZE)")
    assert raw(u[0]).count(b"UID") == 1


def test_lf_only_mutt_file(srv):
    """A Maildir file written by mutt: LF line ends. Sizes, offsets and
    sections are those of the CRLF form."""
    user = fresh_user(srv)
    c = RawImap(srv).login(user)
    d = os.path.join(srv.maildir(user), "cur")
    small = corpus("lf_only")
    line = b"0123456789 abcdefghij ABCDEFGHIJ klmnopqrst\n"
    big = (b"From: mutt@example.org\nSubject: long LF message\n"
           b"Content-Type: text/plain\n\n" + line * 12000)      # ~540 KB
    for i, data in enumerate((small, big)):
        path = os.path.join(d, f"17162898{i}1.29931_{i}.mutt-host:2,S")
        with open(path, "wb") as f:
            f.write(data)
        os.utime(path, (1716289800 + i, 1716289800 + i))
    c.command("SELECT INBOX")
    s, b = crlf(small), crlf(big)
    u, _ = c.command("FETCH 1:2 (RFC822.SIZE INTERNALDATE)")
    assert flat(u) == [b'* 1 FETCH (RFC822.SIZE %d INTERNALDATE "21-May-2024 11:10:00 +0000")' % len(s),
                       b'* 2 FETCH (RFC822.SIZE %d INTERNALDATE "21-May-2024 11:10:01 +0000")' % len(b)]
    u, _ = c.command("FETCH 1 (BODY[] BODY[1] BODY[2.MIME] BODY[TEXT]<3.40>)")
    p = u[0]
    assert p[1] == s
    assert p[2] == b" BODY[1] {18}" and p[3] == b"line one\r\nline two"
    assert p[5] == b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
    hdr = s.index(b"\r\n\r\n") + 4
    assert p[7] == s[hdr + 3:hdr + 43]
    # partial ranges all over the big one, some starting on an added CR
    lf_positions = [m.start() for m in re.finditer(rb"\r\n", b)]
    offsets = [0, 1, 65535, 65536, 65537, 200000, lf_positions[3000],
               lf_positions[3000] + 1, len(b) - 10, len(b) + 5]
    for off in offsets:
        u, _ = c.command(f"FETCH 2 BODY.PEEK[]<{off}.70001>")
        want = b[off:off + 70001]
        assert u[0][0].endswith(b"{%d}" % len(want)) and u[0][1] == want, off
    u, _ = c.command("FETCH 2 (BODY.PEEK[] BODYSTRUCTURE)")
    assert u[0][1] == b
    assert b'"7bit" %d 12000 ' % (len(b) - (b.index(b"\r\n\r\n") + 4)) in u[0][2]
    u, _ = c.command("SEARCH BODY klmnopqrst")
    assert flat(u) == [b"* SEARCH 2"]


def test_mime_cache(srv):
    def fetch_lines():
        return [l for l in srv.log_text().splitlines() if " imap fetch messages=" in l]
    before = len(fetch_lines())
    user = fresh_user(srv)
    c = RawImap(srv).login(user)
    place(srv, corpus("alternative"), user=user)
    c.command("SELECT INBOX")
    c.command("FETCH 1 BODYSTRUCTURE")
    c.command("FETCH 1 (BODY BODY.PEEK[1.MIME] BODY.PEEK[2])")
    c.command("FETCH 1 (BODY.PEEK[] ENVELOPE)")     # no tree needed here
    c.command("LOGOUT")
    deadline = time.time() + 5      # log lines have a writer thread
    while len(fetch_lines()) < before + 3 and time.time() < deadline:
        time.sleep(0.02)
    mine = fetch_lines()[-3:]                       # this session's three
    assert "messages=1 parsed=1 cached=0" in mine[0], mine
    assert "messages=1 parsed=0 cached=1" in mine[1], mine
    assert "parsed=0" in mine[2], mine


def test_large_message_streamed_bounded_memory(tmp_path):
    """A 20 MB message: partial and whole fetches to a client that does not
    read do not grow the server's memory (release build: ASan's quarantine
    would hide the answer); then byte-exact."""
    from mailserver import RELEASE_BIN
    s = imap_server(tmp_path, users=(ALICE,), binary=RELEASE_BIN,
                    limits="max_message_size = 67108864")
    line = b"z" * 76 + b"\r\n"
    big = b"Subject: big\r\nContent-Type: text/plain\r\n\r\n" + line * (20 * 1024 * 1024 // 78)
    place(s, big)
    lf_big = big.replace(b"\r\n", b"\n")
    place(s, lf_big)

    def worker_rss():
        pids = subprocess.run(["pgrep", "-P", str(s.proc.pid)], capture_output=True,
                              text=True).stdout.split()
        total = 0
        for pid in pids:
            with open(f"/proc/{pid}/status") as f:
                total += int([l for l in f if l.startswith("VmRSS:")][0].split()[1])
        return total

    c = RawImap(s, "imaps").login()
    c.command("SELECT INBOX")
    c.command("FETCH 1:2 BODYSTRUCTURE")            # parses both, streaming
    base = worker_rss()
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    for seq, data in ((1, big), (2, big)):
        c.send(b"p%d FETCH %d BODY.PEEK[]<1000.15000000>\r\n" % (seq, seq))
        time.sleep(1.5)                              # we do not read
        grown = worker_rss() - base
        assert grown < 8 * 1024, f"workers grew by {grown} KiB"
        u, done = c.until(f"p{seq}")
        assert u[0][1] == data[1000:15001000], seq
    c.send(b"w FETCH 2 BODY.PEEK[]\r\n")
    time.sleep(1)
    assert worker_rss() - base < 8 * 1024
    u, done = c.until("w")
    assert u[0][1] == big and rest(done) == b"OK Fetch completed"
    c.command("LOGOUT")
    s.check_clean_exit()


def test_curl_imaps_and_starttls(srv):
    user = fresh_user(srv)
    RawImap(srv).login(user).command("LOGOUT")
    msg = corpus("alternative")
    deliver(srv, msg, rcpt=user)
    stored = srv.messages(user)[0]
    ca = os.path.join(srv.certs, "mail.crt")
    base = ["curl", "-s", "--cacert", ca, "-u", f"{user}:{PASSWORD}"]
    r = subprocess.run(base + [f"imaps://127.0.0.1:{srv.ports['imaps']}/INBOX;UID=1"],
                       capture_output=True, timeout=30)
    assert r.returncode == 0 and r.stdout == stored
    r = subprocess.run(base + [f"imaps://127.0.0.1:{srv.ports['imaps']}/INBOX;UID=1;SECTION=TEXT"],
                       capture_output=True, timeout=30)
    assert r.returncode == 0 and r.stdout == stored[stored.index(b"\r\n\r\n") + 4:]
    r = subprocess.run(base + ["--ssl-reqd",
                               f"imap://127.0.0.1:{srv.ports['imap']}/INBOX;UID=1;SECTION=1"],
                       capture_output=True, timeout=30)
    assert r.returncode == 0
    assert r.stdout.startswith(b"Hello Bob,") or b"=C3=A9" in r.stdout, r.stdout[:200]


def test_openssl_starttls_fetch(srv):
    user = fresh_user(srv)
    RawImap(srv).login(user).command("LOGOUT")
    deliver(srv, simple_message("via openssl"), rcpt=user)
    r = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{srv.ports['imap']}",
                        "-starttls", "imap", "-CAfile", os.path.join(srv.certs, "mail.crt"),
                        "-quiet", "-ign_eof"],
                       input=f"a LOGIN {user} \"{PASSWORD}\"\r\nb SELECT INBOX\r\n"
                             f"c FETCH 1 (FLAGS BODY[HEADER.FIELDS (SUBJECT)])\r\n"
                             f"d LOGOUT\r\n",
                       capture_output=True, text=True, timeout=30)
    assert "b OK [READ-WRITE] Select completed" in r.stdout
    assert "Subject: via openssl" in r.stdout
    assert "c OK Fetch completed" in r.stdout and "d OK Logout completed" in r.stdout
