#!/usr/bin/env python3
"""Full and resumed TLS handshakes per second, and server CPU per handshake,
for each key type (RSA-2048, RSA-4096, ECDSA P-256); optionally beside
another build of sealpost (--before), interleaved A B A B, to measure what a
change costs per handshake (the key holder: signatures made by another
process).

Beside the server, build/bench/tls_floor (bench/tls_floor.c) measures
OpenSSL alone with the same policy and key: client and server in one
thread over a memory BIO pair, no socket, no event loop, no sealpost code,
only the CPU spent inside the server's calls. That is the floor no server
built on this OpenSSL can go under; it prints the signature and X25519
costs of the same run and what OpenSSL spends around them.

    make bench BENCH=handshakes
    make bench BENCH=handshakes BENCH_ARGS="--before /tmp/old/build/sealpost --repeat 3"

The load is build/bench/loadgen's handshake mode on IMAPS (TCP connect, TLS
handshake, greeting, close; every certificate checked), 10 clients. Server
CPU counts every process of the server (master, key holder, workers) from
/proc. The `openssl speed rsa2048` sign time of the run is printed beside:
this VM's speed drifts by a third from hour to hour."""
import argparse
import json
import os
import statistics
import subprocess
import sys
import socket
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from bench_server import BenchServer, rsa2048_sign_ms  # noqa: E402

KEYS = ("rsa:2048", "rsa:4096", "ecdsa")


def sign_ms():
    ms = rsa2048_sign_ms()
    return ms if ms is not None else float("nan")


def one_run(binary, key, resume, args, tmp):
    srv = BenchServer(binary, tempfile.mkdtemp(dir=tmp), workers=2, key=key,
                      services=("imaps",))
    srv.start()
    try:
        cmd = [args.loadgen, "handshake", "--port", str(srv.ports["imaps"]),
               "--cafile", srv.cafile, "--tls-name", "localhost",
               "--conns", str(args.conns), "--duration", str(args.duration)]
        if resume:
            cmd.append("--resume")
        cpu0 = srv.cpu()
        r = subprocess.run(cmd, capture_output=True, text=True,
                           timeout=args.duration + 60)
        cpu1 = srv.cpu()
        lg = json.loads(r.stdout.strip().splitlines()[-1])
        if r.returncode != 0 or lg["error_count"]:
            raise RuntimeError(f"loadgen: {lg.get('errors')} {r.stderr[-500:]}")
        n = lg["handshakes"]
        return {"ops_per_s": lg["ops_per_s"], "handshakes": n,
                "resumed": lg["resumed"], "tls": lg["tls"],
                "cpu_ms": (cpu1 - cpu0) * 1000 / n if n else float("nan")}
    finally:
        srv.stop()


def plain_run(binary, args, tmp):
    """The same server's cost of a connection without TLS (IMAP on a
    plaintext port: TCP connect, greeting, close), from args.conns Python
    threads: what the kernel and sealpost's connection core cost around
    OpenSSL's part."""
    srv = BenchServer(binary, tempfile.mkdtemp(dir=tmp), workers=2,
                      services=("imap",))
    srv.start()
    count = [0] * args.conns
    stop = time.monotonic() + args.duration

    def client(i):
        while time.monotonic() < stop:
            with socket.create_connection(("127.0.0.1", srv.ports["imap"])) as c:
                if not c.recv(512).startswith(b"* OK"):
                    raise RuntimeError("imap: no greeting")
            count[i] += 1
    try:
        cpu0 = srv.cpu()
        threads = [threading.Thread(target=client, args=(i,))
                   for i in range(args.conns)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        cpu1 = srv.cpu()
        n = sum(count)
        return {"connections": n, "ops_per_s": n / args.duration,
                "cpu_ms": (cpu1 - cpu0) * 1000 / n if n else float("nan")}
    finally:
        srv.stop()


def floor_rows(args, key):
    """OpenSSL alone (bench/tls_floor.c), full and resumed, for one key."""
    r = subprocess.run([args.tls_floor, key, str(args.floor_n)],
                       capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        raise RuntimeError(f"tls_floor: {r.stderr[-500:]}")
    return [json.loads(line) for line in r.stdout.splitlines() if line]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--binary", default=os.path.join(ROOT, "build/sealpost"))
    p.add_argument("--before", help="another sealpost binary to compare")
    p.add_argument("--loadgen", default=os.path.join(ROOT, "build/bench/loadgen"))
    p.add_argument("--tls-floor", default=os.path.join(ROOT, "build/bench/tls_floor"))
    p.add_argument("--floor-n", type=int, default=2000,
                   help="handshakes per kind for OpenSSL alone (0: skip)")
    p.add_argument("--keys", default=",".join(KEYS))
    p.add_argument("--duration", type=float, default=5)
    p.add_argument("--conns", type=int, default=10)
    p.add_argument("--repeat", type=int, default=2)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    builds = [("sealpost", args.binary)]
    if args.before:
        builds.insert(0, ("before", args.before))
    results = {}
    plain = {}
    signs = [sign_ms()]
    with tempfile.TemporaryDirectory(prefix="sealpost-hs-") as tmp:
        for key in args.keys.split(","):
            for resume in (False, True):
                for _ in range(args.repeat):
                    for name, binary in builds:      # A B A B
                        r = one_run(binary, key, resume, args, tmp)
                        results.setdefault((name, key, resume), []).append(r)
        for _ in range(args.repeat):
            for name, binary in builds:
                plain.setdefault(name, []).append(plain_run(binary, args, tmp))
        floor = []
        if args.floor_n:
            for key in args.keys.split(","):
                floor += floor_rows(args, key)
    signs.append(sign_ms())
    rows = []
    for (name, key, resume), runs in results.items():
        rows.append({
            "build": name, "key": key, "resumed": resume,
            "ops_per_s": statistics.median(r["ops_per_s"] for r in runs),
            "cpu_ms": statistics.median(r["cpu_ms"] for r in runs),
            "resumed_share": sum(r["resumed"] for r in runs) /
                             max(1, sum(r["handshakes"] for r in runs)),
            "tls": runs[0]["tls"],
        })
    plain_rows = [{"build": name,
                   "ops_per_s": statistics.median(r["ops_per_s"] for r in runs),
                   "cpu_ms": statistics.median(r["cpu_ms"] for r in runs)}
                  for name, runs in plain.items()]
    if args.json:
        print(json.dumps({"sign_ms": signs, "rows": rows, "plain": plain_rows,
                          "floor": floor}, indent=1))
        return 0
    print(f"openssl speed rsa2048 sign: {signs[0]:.3f} ms at start, "
          f"{signs[1]:.3f} ms at end; {args.conns} clients, {args.duration} s "
          f"x {args.repeat} runs (medians)")
    print(f"{'build':9} {'key':9} {'handshake':9} {'per s':>8} {'CPU ms':>8} "
          f"{'resumed':>8}")
    for r in rows:
        print(f"{r['build']:9} {r['key']:9} {'resumed' if r['resumed'] else 'full':9} "
              f"{r['ops_per_s']:8.0f} {r['cpu_ms']:8.3f} "
              f"{100 * r['resumed_share']:7.0f}%")
    for r in plain_rows:
        print(f"{r['build']:9} {'none':9} {'plain TCP':9} {r['ops_per_s']:8.0f} "
              f"{r['cpu_ms']:8.3f}  (IMAP greeting, no TLS; Python clients)")
    if floor:
        print(f"OpenSSL alone ({floor[0]['openssl']}; bench/tls_floor.c, "
              f"{args.floor_n} handshakes each, no sockets):")
        print(f"{'key':9} {'handshake':9} {'CPU ms':>8} {'sign':>7} "
              f"{'X25519':>7} {'around':>7} {'resumed':>8}")
        for f in floor:
            full = f["handshake"] == "full"
            print(f"{f['key']:9} {f['handshake']:9} {f['server_cpu_ms']:8.3f} "
                  f"{f['sign_ms'] if full else 0:7.3f} {f['x25519_ms']:7.3f} "
                  f"{f['around_ms']:7.3f} {100 * f['resumed']:7.0f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
