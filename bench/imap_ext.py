#!/usr/bin/env python3
"""Figures for the IMAP extensions (a measurement, not a test): SORT and
THREAD over a folder of N messages, and the bytes of a header FETCH with
and without COMPRESS=DEFLATE. Starts its own server from build/sealpost
(or $SEALPOST_BIN) in a temporary folder, removed afterwards.

    make build/sealpost && /usr/bin/python3 bench/imap_ext.py [N]
"""
import os
import random
import shutil
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "proto"))
os.environ.setdefault("SEALPOST_BIN", os.path.join(ROOT, "build", "sealpost"))

from imap_sel_util import RawImap, flat, imap_server  # noqa: E402
from test_imap_ext_compress import ZRaw  # noqa: E402

QUERY = ("FETCH 1:* (UID FLAGS BODY.PEEK[HEADER.FIELDS "
         "(FROM TO SUBJECT DATE MESSAGE-ID REFERENCES)])")


def fill(srv, user, n):
    """n messages in cur/: 60 % replies to one of the last 200."""
    rnd = random.Random(10)
    ids = []
    cur = os.path.join(srv.maildir(user), "cur")
    for i in range(n):
        mid = f"<m{i}@bench.example>"
        refs = ""
        if ids and rnd.random() < 0.6:
            refs = f"References: {rnd.choice(ids[-200:])}\r\n"
        subj = ("Re: " if refs else "") + f"Topic {rnd.randrange(800)}"
        msg = (f"From: User {i % 97} <u{i % 97}@example.org>\r\n"
               f"To: bench@example.test\r\nSubject: {subj}\r\n"
               f"Date: Mon, {1 + i % 28} Jan 2024 {i % 24:02d}:{i % 60:02d}:00 +0000\r\n"
               f"Message-ID: {mid}\r\n{refs}\r\nbody {i}\r\n").encode()
        ids.append(mid)
        name = f"{1700000000 + i}.M{i}P1.bench,S={len(msg)}:2,S"
        with open(os.path.join(cur, name), "wb") as f:
            f.write(msg)


def timed(c, cmd):
    t = time.time()
    u, done = c.command(cmd)
    print(f"{cmd}: {time.time() - t:.2f} s, {len(b''.join(flat(u)))} bytes, "
          f"{done.split()[1].decode()}")


def fetch_bytes(srv, user):
    c = RawImap(srv, "imaps").login(user)
    c.command("SELECT INBOX")
    c.send(b"f1 " + QUERY.encode() + b"\r\n")
    plain = 0
    while True:
        parts = c.response()
        plain += sum(len(p) for p in parts) + 2 * (len(parts) // 2 + 1)
        if parts[0].startswith(b"f1 "):
            break
    z = ZRaw(srv, "imaps")
    z.r.login(user)
    z.compress_start()
    z.send(b"s SELECT INBOX\r\n")
    z.until(b"s")
    z.send(b"f2 " + QUERY.encode() + b"\r\n")
    chunks, wire, tail = [], 0, b""
    while b"\r\nf2 OK" not in tail:
        chunk = z.r.sock.recv(1 << 20)
        wire += len(chunk)
        chunks.append(z.zi.decompress(chunk))
        tail = (tail + chunks[-1])[-64:]
    got = sum(len(x) for x in chunks)
    print(f"{QUERY}: {got} bytes, {wire} on the wire with COMPRESS=DEFLATE "
          f"({100 * (1 - wire / got):.0f}% saved); {plain} without")


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
    root = tempfile.mkdtemp(prefix="sealpost-imapext-")
    srv = imap_server(root)
    try:
        user = "bench@example.test"
        srv.add_user(user)
        fill(srv, user, n)
        c = RawImap(srv, "imaps").login(user)
        t = time.time()
        c.command("SELECT INBOX")
        print(f"{n} messages; first SELECT: {time.time() - t:.2f} s")
        for cmd in ("SORT (DATE) UTF-8 ALL", "SORT (SUBJECT) UTF-8 ALL",
                    "SORT (REVERSE ARRIVAL) UTF-8 ALL",
                    "THREAD ORDEREDSUBJECT UTF-8 ALL", "THREAD REFERENCES UTF-8 ALL",
                    "SEARCH RETURN (COUNT) FROM u5@example.org"):
            timed(c, cmd)
        fetch_bytes(srv, user)
    finally:
        srv.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
