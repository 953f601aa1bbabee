#!/usr/bin/python3
"""IMAP resync benchmark: what a client that was away pays to catch up
with a large folder after a few changes, with QRESYNC (RFC 7162) and with
a full sync, in bytes on the wire and time.

    make bench BENCH=imap_resync                  # 10000 messages, 100 changes
    /usr/bin/python3 bench/imap_resync.py --messages 10000 --repeat 5

A run starts its own release-build server (bench_server.BenchServer, IMAPS
on a free loopback port) and puts --messages files into the account's
INBOX as another Maildir program would (the first SELECT gives them UIDs).
A client (Python imaplib, IMAPS) syncs fully and remembers UIDVALIDITY,
HIGHESTMODSEQ, UIDNEXT and every message's flags. Another session then
makes the changes: flag changes, expunges and new mail (--flags,
--expunges, --appends; 60 + 20 + 20 by default). Then, each --repeat times
on a new connection (after login, which is not counted):

  full     SELECT INBOX, FETCH 1:* (UID FLAGS)
  qresync  ENABLE QRESYNC, SELECT INBOX (QRESYNC (uidvalidity modseq
           known-uids)), UID FETCH <old UIDNEXT>:* (UID FLAGS)
           (RFC 7162 6: flag changes and expunges come with the SELECT,
           new mail is fetched by UID)
  select   SELECT INBOX alone: the floor both stand on (the server
           brings its view of the folder up to date)

Both must end with the same picture of the folder, which must be the
server's (checked against a final full sync): otherwise the run fails.
Bytes are counted twice: the IMAP bytes the client sent and read, and the
TCP payload bytes (TLS records included) from the kernel's TCP_INFO."""
import argparse
import imaplib
import json
import os
import random
import re
import shutil
import socket
import ssl
import statistics
import struct
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_server                                    # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# struct tcp_info (linux/tcp.h): tcpi_bytes_acked and tcpi_bytes_received,
# u64 each, at these offsets since Linux 4.2.
TCPI_BYTES_ACKED = 120
TCPI_BYTES_RECEIVED = 128
TCPI_SIZE = 136
# Flags the placed messages start with: a realistic mix of read, unread,
# answered and flagged mail.
START_FLAGS = ("S", "S", "S", "", "RS", "FS")
FETCH_RE = re.compile(rb"\d+ \(UID (\d+) FLAGS \(([^)]*)\)")


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="imap_resync.py", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--messages", type=int, default=10000,
                   help="messages in the folder")
    p.add_argument("--size", type=int, default=3000, help="bytes per message")
    p.add_argument("--flags", type=int, default=60,
                   help="flag changes by the other session")
    p.add_argument("--expunges", type=int, default=20,
                   help="messages the other session expunges")
    p.add_argument("--appends", type=int, default=20,
                   help="messages the other session appends")
    p.add_argument("--repeat", type=int, default=3,
                   help="resyncs of each kind (the median is reported)")
    p.add_argument("--seed", type=int, default=1, help="random seed")
    p.add_argument("--binary", default=os.path.join(ROOT, "build", "sealpost"),
                   help="the sealpost binary")
    p.add_argument("--keep", action="store_true",
                   help="keep the temporary folder")
    p.add_argument("--json", action="store_true", help="print JSON")
    return p.parse_args(argv)


class CountingIMAP(imaplib.IMAP4_SSL):
    """imaplib over TLS that counts the IMAP bytes it sends and reads."""

    def __init__(self, *a, **kw):
        self.sent = self.received = 0
        super().__init__(*a, **kw)

    def send(self, data):
        self.sent += len(data)
        super().send(data)

    def read(self, size):
        data = super().read(size)
        self.received += len(data)
        return data

    def readline(self):
        line = super().readline()
        self.received += len(line)
        return line

    def tcp_bytes(self):
        """(sent, received) TCP payload bytes of the connection so far."""
        info = self.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, TCPI_SIZE)
        acked, = struct.unpack_from("Q", info, TCPI_BYTES_ACKED)
        received, = struct.unpack_from("Q", info, TCPI_BYTES_RECEIVED)
        return acked, received


def connect(server):
    ctx = ssl.create_default_context(cafile=server.cafile)
    m = CountingIMAP("127.0.0.1", server.ports["imaps"], ssl_context=ctx, timeout=120)
    check(m.login(bench_server.USER, bench_server.PASSWORD), "LOGIN")
    return m


def check(result, what):
    typ, data = result
    if typ != "OK":
        raise RuntimeError(f"{what}: {typ} {data}")
    return data


def place_messages(maildir, n, size, rng):
    """n message files in cur/, as another Maildir program leaves them
    (S= and W= in the names, so the server need not read them)."""
    cur = os.path.join(maildir, "cur")
    body = ("x" * 76 + "\r\n") * max(1, size // 78)
    now = int(time.time()) - n
    for i in range(n):
        text = (f"From: Sender {i} <s{i}@example.org>\r\nTo: bench@bench.test\r\n"
                f"Subject: message {i}\r\nMessage-ID: <{i}.resync@bench.test>\r\n"
                f"\r\n{body}").encode()
        name = (f"{now + i}.M{i:06d}P1.bench,S={len(text)},W={len(text)}"
                f":2,{rng.choice(START_FLAGS)}")
        path = os.path.join(cur, name)
        with open(path, "wb") as f:
            f.write(text)
        os.utime(path, (now + i, now + i))


def parse_fetch(data):
    """{uid: flags} of imaplib FETCH data."""
    out = {}
    for item in data:
        line = item[0] if isinstance(item, tuple) else item
        if not line:
            continue
        m = FETCH_RE.match(line)
        if m is None:
            raise RuntimeError(f"unexpected FETCH data {line[:200]!r}")
        out[int(m.group(1))] = tuple(sorted(f for f in m.group(2).split()
                                            if f != b"\\Recent"))
    return out


def seqset(uids):
    """A compact IMAP sequence set of sorted UIDs."""
    out, start, prev = [], None, None
    for u in uids:
        if start is None:
            start = prev = u
        elif u == prev + 1:
            prev = u
        else:
            out.append(f"{start}" if start == prev else f"{start}:{prev}")
            start = prev = u
    if start is not None:
        out.append(f"{start}" if start == prev else f"{start}:{prev}")
    return ",".join(out)


def parse_set(text):
    uids = set()
    for part in text.split(","):
        lo, _, hi = part.partition(":")
        uids.update(range(int(lo), int(hi or lo) + 1))
    return uids


def code(m, name):
    data = m.untagged_responses.get(name, [None])
    return int(data[-1]) if data[-1] is not None else None


def select_only(m):
    check(m.select("INBOX"), "SELECT")
    return None


def full_sync(m):
    """SELECT and FETCH 1:* (UID FLAGS): the folder's UIDs and flags."""
    check(m.select("INBOX"), "SELECT")
    state = {"uidvalidity": code(m, "UIDVALIDITY"), "uidnext": code(m, "UIDNEXT")}
    state["flags"] = parse_fetch(check(m.fetch("1:*", "(UID FLAGS)"), "FETCH"))
    return state


def qresync(m, known):
    """The RFC 7162 6 resync of known's picture: the changed flags and the
    expunged UIDs come with SELECT, new mail by UID FETCH."""
    check(m.enable("QRESYNC"), "ENABLE")
    arg = "INBOX (QRESYNC (%d %d %s))" % (known["uidvalidity"], known["modseq"],
                                         seqset(sorted(known["flags"])))
    check(m.select(arg), "SELECT QRESYNC")
    if code(m, "UIDVALIDITY") != known["uidvalidity"]:
        raise RuntimeError("UIDVALIDITY changed")
    flags = dict(known["flags"])
    vanished = m.untagged_responses.get("VANISHED", [])
    for item in vanished:
        text = item.decode()
        if not text.startswith("(EARLIER) "):
            raise RuntimeError(f"VANISHED without EARLIER: {text}")
        for uid in parse_set(text[len("(EARLIER) "):]):
            flags.pop(uid, None)
    changed = parse_fetch(m.untagged_responses.pop("FETCH", []))
    flags.update(changed)
    new = parse_fetch(check(m.uid("FETCH", "%d:*" % known["uidnext"], "(UID FLAGS)"),
                            "UID FETCH"))
    flags.update({u: f for u, f in new.items() if u >= known["uidnext"]})
    return {"flags": flags, "changed": len(changed), "new": len(new),
            "vanished": sum(len(parse_set(v.decode().split(" ", 1)[1]))
                            for v in vanished)}


def measured(server, fn, *args):
    """Run fn(m, *args) on a new connection, counting from after login."""
    m = connect(server)
    sent0, recv0 = m.sent, m.received
    tcp0 = m.tcp_bytes()
    t0 = time.perf_counter()
    result = fn(m, *args)
    elapsed = time.perf_counter() - t0
    tcp1 = m.tcp_bytes()
    out = {"seconds": elapsed, "imap_sent": m.sent - sent0,
           "imap_received": m.received - recv0,
           "tcp_sent": tcp1[0] - tcp0[0], "tcp_received": tcp1[1] - tcp0[1]}
    m.logout()
    return out, result


def remember(server):
    """The client's picture after a full sync, with HIGHESTMODSEQ."""
    m = connect(server)
    check(m.enable("QRESYNC"), "ENABLE")
    state = full_sync(m)
    state["modseq"] = code(m, "HIGHESTMODSEQ")
    if state["modseq"] is None:
        raise RuntimeError("no HIGHESTMODSEQ in the SELECT answer")
    m.logout()
    return state


def make_changes(server, known, args, rng):
    """The other session's work: flag changes, expunges, appends."""
    m = connect(server)
    check(m.select("INBOX"), "SELECT")
    uids = sorted(known["flags"])
    picked = rng.sample(uids, args.flags + args.expunges)
    for uid in picked[:args.flags]:
        flag = rng.choice(("\\Seen", "\\Flagged", "\\Answered", "$Work"))
        op = "-FLAGS" if flag.encode() in known["flags"][uid] else "+FLAGS"
        check(m.uid("STORE", str(uid), op, f"({flag})"), "STORE")
    gone = picked[args.flags:]
    if gone:
        check(m.uid("STORE", seqset(sorted(gone)), "+FLAGS.SILENT", "(\\Deleted)"),
              "STORE")
        check(m.expunge(), "EXPUNGE")
    for i in range(args.appends):
        msg = (f"From: new@example.org\r\nSubject: new {i}\r\n\r\n" +
               "y" * args.size + "\r\n").encode()
        check(m.append("INBOX", None, None, msg), "APPEND")
    m.logout()


def median_of(runs, key):
    return statistics.median(r[key] for r in runs)


def summary(runs):
    return {k: median_of(runs, k) for k in runs[0]}


def run(args):
    rng = random.Random(args.seed)
    root = tempfile.mkdtemp(prefix="sealpost-bench-resync-")
    server = bench_server.BenchServer(args.binary, root, services=("imaps",))
    result = {"kind": "resync", "messages": args.messages,
              "changes": {"flags": args.flags, "expunges": args.expunges,
                          "appends": args.appends}}
    try:
        place_messages(server.maildir(), args.messages, args.size, rng)
        server.start()
        known = remember(server)
        make_changes(server, known, args, rng)
        full, full_runs = None, []
        for _ in range(args.repeat):
            figures, state = measured(server, full_sync)
            full_runs.append(figures)
            full = state["flags"]
        qr_runs, qr = [], None
        for _ in range(args.repeat):
            figures, qr = measured(server, qresync, known)
            qr_runs.append(figures)
        sel_runs = [measured(server, select_only)[0] for _ in range(args.repeat)]
        _, truth = measured(server, full_sync)
        result["select"] = summary(sel_runs)
        result["full"] = summary(full_runs)
        result["qresync"] = summary(qr_runs)
        result["qresync_saw"] = {k: qr[k] for k in ("changed", "vanished", "new")}
        result["same_picture"] = qr["flags"] == full == truth["flags"]
        result["messages_after"] = len(truth["flags"])
        result["server_exit"] = server.stop()
        result["server_problems"] = server.problems()
    finally:
        server.stop()
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    return result


def kib(n):
    return f"{n / 1024:,.1f} KiB"


def print_result(r):
    c = r["changes"]
    print(f"sealpost IMAP resync: {r['messages']} messages, then "
          f"{c['flags']} flag changes, {c['expunges']} expunges and "
          f"{c['appends']} new messages by another session "
          f"({r['messages_after']} messages after)")
    print(f"  {'':8} {'IMAP sent':>12} {'IMAP read':>12} {'TCP total':>12} {'time':>9}")
    for name in ("full", "qresync", "select"):
        f = r[name]
        print(f"  {name:8} {kib(f['imap_sent']):>12} {kib(f['imap_received']):>12} "
              f"{kib(f['tcp_sent'] + f['tcp_received']):>12} "
              f"{f['seconds'] * 1000:>7.1f} ms")
    full, qr = r["full"], r["qresync"]
    ratio_b = (full["tcp_sent"] + full["tcp_received"]) / \
        max(1, qr["tcp_sent"] + qr["tcp_received"])
    print(f"  QRESYNC: {ratio_b:.0f}x fewer bytes, "
          f"{full['seconds'] / max(qr['seconds'], 1e-9):.1f}x faster "
          f"(told {r['qresync_saw']['changed']} flag changes, "
          f"{r['qresync_saw']['vanished']} vanished UIDs, "
          f"{r['qresync_saw']['new']} new messages)")
    print(f"  same picture of the folder both ways: "
          f"{'yes' if r['same_picture'] else 'NO'}; server exit "
          f"{r['server_exit']}, {len(r['server_problems'])} problem lines")


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    r = run(args)
    if args.json:
        print(json.dumps(r, indent=1, sort_keys=True))
    else:
        print_result(r)
    ok = r["same_picture"] and r["server_exit"] == 0 and not r["server_problems"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
