#!/usr/bin/env python3
"""Server CPU per message on reused SMTP STARTTLS connections, for two or
more builds of sealpost, interleaved A B A B in the same minutes (this VM's
disk and CPU costs drift by a factor of three within an hour: only figures
of the same run compare).

    make bench BENCH=smtp_ab BENCH_ARGS="--binary /tmp/old/build/sealpost --binary build/sealpost"
    ... BENCH_ARGS="... --aged"      # new/ already held (and lost) many messages
    ... BENCH_ARGS="... --syscalls"  # system calls per message (strace -f -c)

The load is build/bench/loadgen's smtp mode: --conns clients, --per-conn
messages per connection, 4 KiB each, to one account. Each round starts a
fresh server per build (a fresh Maildir) unless --aged: then every build
keeps one server whose new/ took one run of messages, removed before each
measured run, as `--peers` does (ext4 keeps the directory's size, and on a
file system without a journal each new file then costs more: RESULTS.md).
With --fresh-fs each server gets a new file system (ext4 with or without
a journal, on a loop device; root only), so that inodes freed by earlier
runs cannot slow its creates: this VM's / is ext4 without a journal, whose
allocator scans past every inode freed in the last one to six minutes.
With --syscalls each build serves one run with one worker under `strace -f
-c` and the calls per message are printed instead."""
import argparse
import glob
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from bench_server import (USER, BenchServer, fsync_probe,  # noqa: E402
                          rsa2048_sign_ms)

SENDER = "sender@bench-client.example"
# strace's summary lines to print, most frequent first.
SYSCALL_LINES = 12


def loadgen_cmd(args, srv, duration=None, count=None):
    cmd = [args.loadgen, "smtp", "--port", str(srv.ports["smtp"]),
           "--cafile", srv.cafile, "--conns", str(args.conns),
           "--threads", str(args.threads), "--per-conn", str(args.per_conn),
           "--rcpt", USER, "--from", SENDER, "--run-id", f"ab{time.time_ns()}",
           "--ids", os.path.join(srv.root, "ids")]
    cmd += ["--count", str(count)] if count else ["--duration", f"{duration:g}"]
    return cmd


def run_load(args, srv):
    """One measured run: (msg/s, server CPU ms per message, p99 ms, the
    kernel's part of that CPU in ms per message)."""
    c0, k0 = srv.cpu(), srv.cpu_system()
    r = subprocess.run(loadgen_cmd(args, srv, duration=args.duration),
                       capture_output=True, text=True, timeout=args.duration + 120)
    c1, k1 = srv.cpu(), srv.cpu_system()
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
    if r.returncode != 0 or not lines:
        raise RuntimeError(f"loadgen exited {r.returncode}: {r.stderr[-500:]}")
    lg = json.loads(lines[-1])
    if lg["error_count"] or not lg["acked"]:
        raise RuntimeError(f"loadgen: {lg['errors']}")
    return (lg["ops_per_s"], (c1 - c0) * 1000 / lg["acked"],
            lg["latency_ms"]["p99"], (k1 - k0) * 1000 / lg["acked"])


def empty_new(srv):
    for path in glob.glob(os.path.join(srv.maildir(USER), "new", "*")):
        os.unlink(path)


def new_server(binary, tmp, workers):
    return BenchServer(binary, tempfile.mkdtemp(dir=tmp), workers=workers,
                       services=("smtp",))


# --fresh-fs: mkfs options of each kind, and the image's size.
FRESH_FS = {"ext4": [], "ext4-nojournal": ["-O", "^has_journal"]}
FRESH_FS_MIB = 2048


class FreshFs:
    """A new, empty file system on a loop device (root only), for one
    server: no inode freed by an earlier run can slow its creates."""

    def __init__(self, tmp, kind):
        self.img = os.path.join(tmp, f"fs-{time.time_ns()}.img")
        self.mnt = self.img[:-len(".img")]
        os.mkdir(self.mnt)
        with open(self.img, "wb") as f:
            f.truncate(FRESH_FS_MIB << 20)
        for cmd in (["mkfs.ext4", "-q", "-F", *FRESH_FS[kind], self.img],
                    ["mount", "-o", "loop", self.img, self.mnt]):
            r = subprocess.run(cmd, capture_output=True, text=True)
            if r.returncode != 0:
                os.unlink(self.img)
                os.rmdir(self.mnt)
                sys.exit(f"smtp_ab: --fresh-fs {kind}: {cmd[0]} failed: "
                         f"{(r.stderr or r.stdout).strip()}")
        os.chmod(self.mnt, 0o755)

    def close(self):
        subprocess.run(["umount", self.mnt], check=True, capture_output=True)
        os.unlink(self.img)
        os.rmdir(self.mnt)


def builds(args):
    """(label, binary) of each --binary: A, B, ... (a build may be given
    twice, to see the noise)."""
    return [(chr(ord("A") + i), b) for i, b in enumerate(args.binary)]


def measure(args, tmp):
    results = {label: [] for label, _ in builds(args)}
    aged = {}
    if args.aged:
        for label, b in builds(args):
            aged[label] = new_server(b, tmp, args.workers)
            aged[label].start()
            run_load(args, aged[label])
            aged[label].stop()
            empty_new(aged[label])
    for rnd in range(args.repeat):
        for label, b in builds(args):
            fs = FreshFs(tmp, args.fresh_fs) if args.fresh_fs else None
            srv = aged.get(label) or new_server(b, fs.mnt if fs else tmp,
                                                args.workers)
            try:
                srv.start()
                fig = run_load(args, srv)
            finally:
                srv.stop()
                if fs:
                    fs.close()
            # Only --aged empties new/ between rounds: on this VM's ext4
            # (no journal) every inode freed in the last one to six
            # minutes slows each later create (recently_deleted()), so
            # the bench deletes nothing while it measures fresh servers.
            if label in aged:
                empty_new(srv)
            results[label].append(fig)
            print(f"round {rnd + 1}  {label} {b}: {fig[0]:,.0f} msg/s, "
                  f"{fig[1]:.3f} ms CPU/msg ({fig[3]:.3f} in the kernel), "
                  f"p99 {fig[2]:.1f} ms", flush=True)
    print()
    if args.probe:
        # After the rounds: the probe unlinks what it makes.
        pr = fsync_probe(tmp, args.probe)
        print(f"one durable file without a server, after the rounds "
              f"(bench_server.fsync_probe: create, write, fsync, link, fsync "
              f"the folder, unlink): {pr['cpu_ms_per_commit']:.3f} ms CPU")
    print("| build | msg/s | server CPU ms/msg | of it kernel | p99 ms |")
    print("|---|---:|---:|---:|---:|")
    for label, b in builds(args):
        cols = []
        for i, fmt in ((0, ",.0f"), (1, ".3f"), (3, ".3f"), (2, ".1f")):
            v = [f[i] for f in results[label]]
            cols.append(f"{statistics.median(v):{fmt}} ({min(v):{fmt}}–{max(v):{fmt}})")
        print(f"| {label} `{b}` | " + " | ".join(cols) + " |")


def syscalls(args, tmp):
    for label, b in builds(args):
        srv = new_server(b, tmp, 1)
        srv.start()
        out = os.path.join(srv.root, "strace.txt")
        try:
            workers = subprocess.run(["pgrep", "-P", str(srv.master), "sealpost-worker"],
                                     capture_output=True, text=True).stdout.split()
            if len(workers) != 1:
                raise RuntimeError(f"expected one worker, found {workers}")
            st = subprocess.Popen(["strace", "-f", "-c", "-o", out, "-p", workers[0]],
                                  stderr=subprocess.DEVNULL)
            time.sleep(1)
            r = subprocess.run(loadgen_cmd(args, srv, count=args.count),
                               capture_output=True, text=True, timeout=600)
            if r.returncode != 0:
                raise RuntimeError(f"loadgen exited {r.returncode}: {r.stderr[-500:]}")
            time.sleep(0.5)
            st.terminate()
            st.wait()
        finally:
            srv.stop()
        print(f"{label} {b}: system calls per message ({args.count} messages, 1 worker)")
        shown = 0
        with open(out) as f:
            for line in f:
                fields = line.split()
                if len(fields) >= 5 and fields[3].isdigit() and shown < SYSCALL_LINES:
                    print(f"  {fields[-1]:<16} {int(fields[3]) / args.count:6.2f}")
                    shown += 1


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--binary", action="append", required=True,
                   help="a sealpost build (give two or more)")
    p.add_argument("--loadgen", default=os.path.join(ROOT, "build/bench/loadgen"))
    p.add_argument("--conns", type=int, default=10)
    p.add_argument("--threads", type=int, default=2, help="load generator threads")
    p.add_argument("--per-conn", type=int, default=20, help="messages per connection")
    p.add_argument("-d", "--duration", type=float, default=8.0)
    p.add_argument("--repeat", type=int, default=4)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--aged", action="store_true",
                   help="one server per build whose new/ already held a run of messages")
    p.add_argument("--fresh-fs", choices=sorted(FRESH_FS),
                   help="each server on a new file system of this kind "
                        "(a loop device; root only)")
    p.add_argument("--probe", type=float, default=2,
                   help="seconds of bench_server.fsync_probe after the rounds "
                        "(0: none)")
    p.add_argument("--syscalls", action="store_true",
                   help="strace -f -c of one worker instead of CPU figures")
    p.add_argument("--count", type=int, default=2000, help="messages of a --syscalls run")
    p.add_argument("--no-sign-time", action="store_true",
                   help="skip `openssl speed rsa2048` (4 s; a check of the tool)")
    args = p.parse_args()
    if args.fresh_fs and args.aged:
        p.error("--fresh-fs and --aged: choose one")
    sign = None if args.no_sign_time else rsa2048_sign_ms()
    if sign is not None:
        print(f"openssl speed rsa2048: sign {sign:.3f} ms")
    with tempfile.TemporaryDirectory(prefix="sealpost-ab-") as tmp:
        os.chmod(tmp, 0o755)
        if args.syscalls:
            syscalls(args, tmp)
        else:
            measure(args, tmp)


if __name__ == "__main__":
    main()
