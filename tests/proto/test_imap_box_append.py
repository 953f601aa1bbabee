"""APPEND (RFC 3501 6.3.11) with UIDPLUS and LITERAL+: flags, dates,
synchronising and non-synchronising literals, TRYCREATE before "+", TOOBIG,
a 10 MB message byte-exact on disk, and nothing left behind by refused,
broken or abandoned APPENDs."""
import os
import re
import socket
import subprocess
import time

import pytest

from imap_box_util import (MODES, RawImap, check_no_crash, files, folder_dir,
                           login)
from mailserver import PASSWORD, Server

USERS = {mode: f"app-{mode}@example.test" for mode in MODES}
CURL = "curl@example.test"


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    s = Server(tmp_path_factory.mktemp("imapbox-append"),
               services=("smtp", "imap", "imaps"),
               users=(*USERS.values(), CURL))
    yield s
    check_no_crash(s)
    s.check_clean_exit()


def uidvalidity(srv, user, folder="INBOX"):
    path = os.path.join(folder_dir(srv, user, folder), "sealpost-uidlist")
    with open(path) as f:
        return int(re.match(r"sealpost-uidlist \d+ V(\d+) ", f.readline()).group(1))


def cur_bytes(srv, user, folder="INBOX"):
    """{file name: content} of the folder's cur/."""
    d = os.path.join(folder_dir(srv, user, folder), "cur")
    return {n: open(os.path.join(d, n), "rb").read() for n in os.listdir(d)}


def wait_empty(srv, user, folder, sub, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if not files(srv, user, folder, sub):
            return
        time.sleep(0.05)
    raise AssertionError(f"{folder}/{sub} not empty: {files(srv, user, folder, sub)}")


def nothing_new(srv, user, folder, before):
    """No message was added to folder, and its tmp/ is empty."""
    wait_empty(srv, user, folder, "tmp")
    assert set(cur_bytes(srv, user, folder)) == set(before)
    assert files(srv, user, folder, "new") == []


def appenduid(line):
    m = re.search(rb"OK \[APPENDUID (\d+) (\d+)\] Append completed$", line)
    assert m, line
    return int(m.group(1)), int(m.group(2))


@pytest.mark.parametrize("mode", MODES)
def test_flags_date_keywords_appenduid(srv, mode):
    user = USERS[mode]
    m = login(srv, mode, user)
    msg = b"From: a@b.test\r\nSubject: flags\r\n\r\nline 1\r\nline 2\r\n"
    typ, data = m.append("Sent", r"(\Seen \Flagged \Answered \Draft \Deleted $Label1 Work)",
                         '"17-Jul-1996 02:44:25 -0700"', msg)
    assert typ == "OK", data
    v, uid = appenduid(b"OK " + data[0])
    assert v == uidvalidity(srv, user, "Sent") and uid == 1
    (name, content), = cur_bytes(srv, user, "Sent").items()
    assert content == msg
    assert name.endswith(":2,DFRSTab"), name
    d = folder_dir(srv, user, "Sent")
    assert open(os.path.join(d, "dovecot-keywords")).read() == "0 $Label1\n1 Work\n"
    assert os.stat(os.path.join(d, "cur", name)).st_mtime == 837596665
    # No flags, no date: now, unflagged; the next UID.
    typ, data = m.append("Sent", None, None, b"Subject: plain\r\n\r\nx\r\n")
    v2, uid2 = appenduid(b"OK " + data[0])
    assert (v2, uid2) == (v, 2)
    new = [n for n in cur_bytes(srv, user, "Sent") if n != name][0]
    assert new.endswith(":2,")
    assert abs(os.stat(os.path.join(d, "cur", new)).st_mtime - time.time()) < 60
    # A date with a one-digit day, in another zone.
    typ, data = m.append("Sent", "()", '" 1-Feb-2000 00:00:00 +0100"', b"x\r\n")
    assert typ == "OK", data
    m.logout()


@pytest.mark.parametrize("mode", MODES)
def test_sync_and_nonsync_literals_byte_exact(srv, mode):
    user = USERS[mode]
    before = cur_bytes(srv, user)
    c = RawImap(srv, mode, user)
    # Bytes as sent: CRLF, a bare LF, a bare CR, 8-bit, no final newline.
    msg1 = b"Subject: sync\r\n\r\nbare\nlf and bare\rcr \xc3\xa9\xff end"
    c.send(b"a1 APPEND INBOX (\\Seen) {%d}\r\n" % len(msg1))
    assert c.line() == b"+ OK"
    c.send(msg1 + b"\r\n")
    v, uid1 = appenduid(c.line())
    # LITERAL+: no "+" and pipelined with more commands in one write.
    msg2 = b"Subject: nonsync\r\n\r\n" + b"x" * 70000 + b"\r\n"
    msg3 = b"Subject: third\r\n\r\n."
    c.send(b"a2 APPEND INBOX {%d+}\r\n" % len(msg2) + msg2 +
           b"\r\na3 APPEND INBOX () {%d+}\r\n" % len(msg3) + msg3 + b"\r\na4 NOOP\r\n")
    assert appenduid(c.line()) == (v, uid1 + 1)
    assert appenduid(c.line()) == (v, uid1 + 2)
    assert c.line() == b"a4 OK NOOP completed"
    # The mailbox name as a literal too.
    c.send(b"a5 APPEND {5}\r\n")
    assert c.line() == b"+ OK"
    c.send(b"inbox {1+}\r\nZ\r\n")          # INBOX in any case
    assert appenduid(c.line()) == (v, uid1 + 3)
    after = cur_bytes(srv, user)
    added = [n for n in after if n not in before]
    assert sorted(after[n] for n in added) == sorted([msg1, msg2, msg3, b"Z"])
    assert files(srv, user, "INBOX", "tmp") == []
    # The selected mailbox hears of it before the tagged OK (once SELECT
    # exists).
    tag, lines = c.cmd("SELECT INBOX")
    if lines[-1].startswith(tag + b" OK"):
        exists = [ln for ln in lines if ln.endswith(b" EXISTS")][0]
        n = int(exists.split()[1])
        tag, lines = c.cmd(b"APPEND INBOX {2+}\r\nhi")
        assert lines[0] == b"* %d EXISTS" % (n + 1), lines
        assert lines[-1].startswith(tag + b" OK [APPENDUID")
    else:
        assert lines[-1] == tag + b" BAD Unknown command", lines
    c.close()


@pytest.mark.parametrize("mode", MODES)
def test_trycreate_before_continuation(srv, mode):
    user = USERS[mode]
    c = RawImap(srv, mode, user)
    c.send(b"b1 APPEND Nowhere {10}\r\n")
    assert c.line() == b"b1 NO [TRYCREATE] Mailbox doesn't exist: Nowhere"
    # A non-synchronising one is read and dropped; the session goes on.
    c.send(b"b2 APPEND Nowhere/Deeper (\\Seen) {12+}\r\nSubject: x\r\n\r\nb3 NOOP\r\n")
    assert c.line() == b"b2 NO [TRYCREATE] Mailbox doesn't exist: Nowhere/Deeper"
    assert c.line() == b"b3 OK NOOP completed"
    # More literals in the refused command are read and dropped too:
    # streamed, buffered (inside a list), empty; a synchronising one ends
    # the command (the client saw its answer and sends no more of it).
    c.send(b"b6 APPEND Nowhere {3+}\r\nabc ({1+}\r\nx {0+}\r\n) {0+}\r\n\r\n"
           b"b7 APPEND Nowhere {3+}\r\nabc {4}\r\nb8 NOOP\r\n")
    assert c.line().startswith(b"b6 NO [TRYCREATE]")
    assert c.line().startswith(b"b7 NO [TRYCREATE]")
    assert c.line() == b"b8 OK NOOP completed"
    # After CREATE it works (the client's TRYCREATE loop).
    tag, lines = c.cmd("CREATE Nowhere")
    assert lines[-1] == tag + b" OK Create completed"
    tag, lines = c.cmd(b"APPEND Nowhere {3+}\r\nabc")
    assert lines[-1].startswith(tag + b" OK [APPENDUID")
    # A \Noselect parent cannot take messages either.
    tag, lines = c.cmd("CREATE Parent/Child")
    tag, lines = c.cmd("DELETE Parent")
    c.send(b"b4 APPEND Parent {3}\r\n")
    assert c.line() == b"b4 NO [TRYCREATE] Mailbox doesn't exist: Parent"
    # Too much to drop: RFC 7888 allows closing the connection.
    c.send(b"b5 APPEND Nowhere2 {2000000+}\r\n" + b"x" * 10000)
    assert c.line() == b"b5 NO [TRYCREATE] Mailbox doesn't exist: Nowhere2"
    assert c.line() == b"* BYE Literal too large"
    with pytest.raises((EOFError, ConnectionResetError)):
        c.line()
    c.close()
    assert not os.path.exists(folder_dir(srv, user, "Nowhere2"))


@pytest.mark.parametrize("mode", MODES)
def test_toobig_before_continuation(srv, mode):
    user = USERS[mode]
    before = cur_bytes(srv, user)
    c = RawImap(srv, mode, user)
    too_big = 26214400 + 1                     # max_message_size + 1
    c.send(b"c1 APPEND INBOX {%d}\r\n" % too_big)
    assert c.line() == b"c1 NO [TOOBIG] Message too large"
    tag, lines = c.cmd("NOOP")
    assert lines[-1] == tag + b" OK NOOP completed"
    c.send(b"c2 APPEND INBOX {%d+}\r\nxxxx" % too_big)
    assert c.line() == b"c2 NO [TOOBIG] Message too large"
    assert c.line().startswith(b"* BYE")
    c.close()
    nothing_new(srv, user, "INBOX", before)


@pytest.mark.parametrize("mode", MODES)
def test_10mb_append_byte_exact(srv, mode):
    user = USERS[mode]
    c = RawImap(srv, mode, user)
    tag, lines = c.cmd("CREATE Big")
    line = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-=+.\r\n"
    msg = b"Subject: big\r\n\r\n" + line * (10 * 1024 * 1024 // len(line) + 1)
    assert len(msg) > 10 * 1024 * 1024
    start = time.time()
    c.send(b"d1 APPEND Big {%d}\r\n" % len(msg))
    assert c.line() == b"+ OK"
    c.send(msg + b"\r\n")
    reply = c.line()
    elapsed = time.time() - start
    appenduid(reply)
    stored = cur_bytes(srv, user, "Big")
    assert list(stored.values()) == [msg]
    name = list(stored)[0]
    assert f",S={len(msg)},W={len(msg)}:2," in name
    assert files(srv, user, "Big", "tmp") == []
    print(f"10 MB APPEND over {mode}: {elapsed:.2f}s "
          f"({len(msg) / elapsed / 1e6:.1f} MB/s, ASan build)")
    c.close()


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("sync", [True, False])
def test_dropped_connection_leaves_nothing(srv, mode, sync):
    user = USERS[mode]
    before = cur_bytes(srv, user)
    c = RawImap(srv, mode, user)
    size = 5 * 1024 * 1024
    c.send(b"e1 APPEND INBOX {%d%s}\r\n" % (size, b"" if sync else b"+"))
    if sync:
        assert c.line() == b"+ OK"
    c.send(b"y" * (1024 * 1024 + 12345))
    # The spool has started on disk, then the client goes away.
    deadline = time.time() + 10
    while not files(srv, user, "INBOX", "tmp") and time.time() < deadline:
        time.sleep(0.02)
    assert files(srv, user, "INBOX", "tmp"), "the message was not spooled"
    c.raw.sock.shutdown(socket.SHUT_RDWR)
    c.close()
    nothing_new(srv, user, "INBOX", before)
    srv.wait_log("disconnected")


def test_complete_literal_then_bad_command_leaves_nothing(srv):
    user = USERS["imaps"]
    before = cur_bytes(srv, user)
    c = RawImap(srv, "imaps", user)
    cases = [
        # MULTIAPPEND (RFC 3502): a second message, then junk: neither
        (b"f1 APPEND INBOX {3+}\r\nabc {3+}\r\ndef junk\r\n", b"f1 BAD Syntax: APPEND"),
        # an argument after the message
        (b"f2 APPEND INBOX {3+}\r\nabc junk\r\n", b"f2 BAD Syntax: APPEND"),
        # unparsable after the message
        (b"f3 APPEND INBOX {3+}\r\nabc )\r\n", b"f3 BAD Unexpected ')'"),
        (b"f4 APPEND INBOX {3+}\r\nabc \"open\r\n", b"f4 BAD"),
        # a bare LF ends the command line
        (b"f5 APPEND INBOX {3+}\r\nabc\n", b"f5 BAD Bare LF"),
    ]
    for data, want in cases:
        c.send(data)
        line = c.line()
        assert line.startswith(want), (data, line)
    tag, lines = c.cmd("NOOP")
    assert lines[-1] == tag + b" OK NOOP completed"
    c.close()
    nothing_new(srv, user, "INBOX", before)


def test_refused_before_continuation(srv):
    user = USERS["starttls"]
    before = cur_bytes(srv, user)
    c = RawImap(srv, "starttls", user)
    for cmd, want in [
            (b"APPEND INBOX (\\Bogus) {3}", b"BAD Invalid system flag"),
            (b"APPEND INBOX (\\Recent) {3}", b"BAD Invalid system flag"),
            (b"APPEND INBOX (a(b)) {3}", b"BAD"),
            (b"APPEND INBOX (" + b"k" * 101 + b") {3}", b"BAD"),
            (b"APPEND INBOX \"not a date\" {3}", b"BAD Invalid date-time"),
            (b"APPEND INBOX \"31-Feb-2020 00:00:00 +0000\" {3}", b"BAD Invalid date-time"),
            (b"APPEND INBOX () () {3}", b"BAD Syntax"),
            (b"APPEND INBOX {0}", b"NO [CANNOT] Can't save a zero byte message"),
            (b"APPEND INBOX {abc}", b"BAD"),
            (b"APPEND INBOX {99999999999999999999999}", b"BAD"),
            (b"APPEND INBOX", b"BAD Syntax"),
            (b"APPEND", b"BAD Syntax"),
            (b"APPEND \"a%b\" {3}", b"NO [CANNOT]")]:
        tag, lines = c.cmd(cmd)
        # Refused without a "+": the client never sends the message.
        assert lines == [lines[-1]], (cmd, lines)
        assert lines[-1].startswith(tag + b" " + want), (cmd, lines)
    # {0+}: nothing to drop, the command is answered.
    c.send(b"g1 APPEND INBOX {0+}\r\n\r\n")
    assert c.line() == b"g1 NO [CANNOT] Can't save a zero byte message"
    tag, lines = c.cmd("NOOP")
    assert lines[-1] == tag + b" OK NOOP completed"
    # Before login, APPEND is refused and its literal dropped.
    c.close()
    c = RawImap(srv, "imaps")
    c.send(b"h1 APPEND INBOX {3+}\r\nabc\r\nh2 NOOP\r\n")
    assert c.line() == b"h1 NO Unexpected literal"
    assert c.line() == b"h2 OK NOOP completed"
    c.close()
    nothing_new(srv, user, "INBOX", before)


def test_keyword_letters_run_out(srv):
    user = USERS["imaps"]
    m = login(srv, "imaps", user)
    assert m.create("Tags")[0] == "OK"
    kws = " ".join(f"kw{i}" for i in range(26))
    assert m.append("Tags", f"({kws})", None, b"x\r\n")[0] == "OK"
    typ, data = m.append("Tags", "(one-too-many)", None, b"y\r\n")
    assert typ == "NO" and data[0].startswith(b"[LIMIT]"), data
    assert len(cur_bytes(srv, user, "Tags")) == 1
    assert files(srv, user, "Tags", "tmp") == []
    m.logout()


def test_curl_upload_over_imaps_and_starttls(srv, tmp_path):
    crt = os.path.join(srv.certs, "mail.crt")
    msg = b"From: curl@example.test\r\nSubject: curl upload\r\n\r\nbody\r\n"
    path = tmp_path / "msg.eml"
    path.write_bytes(msg)
    for url, extra in ((f"imaps://localhost:{srv.ports['imaps']}/Sent", []),
                       (f"imap://localhost:{srv.ports['imap']}/Drafts", ["--ssl-reqd"])):
        r = subprocess.run(["curl", "-sS", "--max-time", "30", "--cacert", crt,
                            "--user", f"{CURL}:{PASSWORD}", "-T", str(path), *extra, url],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
    assert list(cur_bytes(srv, CURL, "Sent").values()) == [msg]
    assert list(cur_bytes(srv, CURL, "Drafts").values()) == [msg]
    # To a folder that does not exist: curl fails, nothing is created.
    r = subprocess.run(["curl", "-sS", "--max-time", "30", "--cacert", crt,
                        "--user", f"{CURL}:{PASSWORD}", "-T", str(path),
                        f"imaps://localhost:{srv.ports['imaps']}/Missing"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0
    assert not os.path.exists(folder_dir(srv, CURL, "Missing"))


def test_large_append_memory_bounded(tmp_path):
    """A 40 MB APPEND streams to disk: the worker's memory does not grow by
    the message (release build: ASan's quarantine would hide the answer)."""
    from mailserver import RELEASE_BIN
    user = "big@example.test"
    srv = Server(tmp_path, services=("imaps",), users=(user,),
                 limits="max_message_size = 67108864", binary=RELEASE_BIN)

    def worker_rss():
        pids = subprocess.run(["pgrep", "-P", str(srv.proc.pid)], capture_output=True,
                              text=True).stdout.split()
        total = 0
        for pid in pids:
            with open(f"/proc/{pid}/status") as f:
                total += int([ln for ln in f if ln.startswith("VmRSS:")][0].split()[1])
        return total

    c = RawImap(srv, "imaps", user)
    base = worker_rss()
    chunk = (b"y" * 1022 + b"\r\n") * 1024          # 1 MiB
    total = 40 * len(chunk)
    start = time.time()
    c.send(b"k1 APPEND INBOX {%d}\r\n" % total)
    assert c.line() == b"+ OK"
    peak = 0
    for i in range(40):
        c.send(chunk)
        if i % 8 == 7:
            peak = max(peak, worker_rss() - base)
    c.send(b"\r\n")
    appenduid(c.line())
    elapsed = time.time() - start
    peak = max(peak, worker_rss() - base)
    assert peak < 8 * 1024, f"workers grew by {peak} KiB"
    (content,) = cur_bytes(srv, user).values()
    assert content == chunk * 40
    print(f"40 MiB APPEND (release, IMAPS): {elapsed:.2f}s, "
          f"{total / elapsed / 1e6:.0f} MB/s, worker RSS growth <= {peak} KiB")
    c.close()
    check_no_crash(srv)
    srv.check_clean_exit()
