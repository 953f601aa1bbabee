#!/usr/bin/python3
"""Repeated IMAPS logins with and without the credential cache.

    /usr/bin/python3 bench/login_rate.py -c 10 -d 10 --rounds 2

Each session is what a mail client that reconnects does: TCP, a full TLS
handshake on imaps, LOGIN (the bench account's password is a yescrypt hash
made by `sealpost user add`), SELECT INBOX, FETCH 1 (BODY[]), LOGOUT. For
each round two fresh servers run one after the other, the same in all but
`auth_cache_ttl`: 0 (off: every login hashes) and the default (on), so the
pair is measured under the same machine conditions. Reported per mode:
sessions/s, session time p50/p99, server CPU per session (all processes
and threads), client CPU, and the sign time of `openssl speed -seconds 1
rsa2048` measured in the same run."""
import argparse
import asyncio
import json
import os
import resource
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_server                                    # noqa: E402
import perf_common as pc                               # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MESSAGE = (b"From: a@bench.test\r\nTo: bench@bench.test\r\nSubject: fetch me\r\n"
           b"Message-ID: <login-rate@bench.test>\r\n\r\n" + b"x" * 2000 + b"\r\n")
MODES = (("off", "auth_cache_ttl = 0"), ("on", ""))


async def one_session(srv, ctx):
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", srv.ports["imaps"], ssl=ctx, server_hostname="localhost")
    try:
        await pc.read_line(reader)
        await pc.imap_cmd(reader, writer, "a1",
                          f'LOGIN {bench_server.USER} "{bench_server.PASSWORD}"')
        await pc.imap_cmd(reader, writer, "a2", "SELECT INBOX")
        await pc.imap_cmd(reader, writer, "a3", "FETCH 1 (BODY.PEEK[])")
        await pc.imap_cmd(reader, writer, "a4", "LOGOUT")
    finally:
        writer.close()


async def load(srv, clients, seconds):
    ctx = pc.client_ctx(srv)
    times, errors = [], {}
    deadline = pc.now() + seconds

    async def client():
        while pc.now() < deadline:
            t0 = pc.now()
            try:
                await one_session(srv, ctx)
                times.append(1000 * (pc.now() - t0))
            except Exception as e:  # noqa: BLE001 - counted and reported
                name = type(e).__name__
                errors[name] = errors.get(name, 0) + 1

    t0 = pc.now()
    await asyncio.gather(*(client() for _ in range(clients)))
    return times, errors, pc.now() - t0


def run_mode(args, mode, extra):
    root = tempfile.mkdtemp(prefix="sealpost-login-")
    srv = pc.start_server(args.binary, root, args.workers, ("smtp", "imaps"),
                          extra_conf=extra, key=args.key)
    try:
        new = os.path.join(srv.maildir(), "new")
        with open(os.path.join(new, "1.M1P1.bench,S=%d" % len(MESSAGE)), "wb") as f:
            f.write(MESSAGE)
        asyncio.run(load(srv, 2, 0.5))          # warm-up (and the first hash)
        cpu0, client0 = srv.cpu(), time.process_time()
        times, errors, secs = asyncio.run(load(srv, args.clients, args.duration))
        server_cpu = srv.cpu() - cpu0
        client_cpu = time.process_time() - client0
        cached = srv.log_text().count("cached=yes")
        rc = srv.stop()
        problems = srv.problems()
    finally:
        if srv.proc is not None:
            srv.stop()
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    n = len(times)
    return {"mode": mode, "sessions": n, "seconds": secs,
            "per_s": n / secs if secs else 0.0,
            "p50_ms": pc.percentile(times, 0.5), "p99_ms": pc.percentile(times, 0.99),
            "server_cpu_ms": 1000 * server_cpu / n if n else None,
            "client_cpu_ms": 1000 * client_cpu / n if n else None,
            "cached_logins": cached, "errors": errors, "server_exit": rc,
            "server_problems": problems[:10]}


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("-c", "--clients", type=int, default=10)
    p.add_argument("-d", "--duration", type=float, default=10)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--binary", default=os.path.join(ROOT, "build/sealpost"))
    p.add_argument("--key", default="rsa:2048")
    p.add_argument("--keep", action="store_true")
    p.add_argument("--json", action="store_true")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    sign = [pc.rsa2048_sign_ms()]
    runs = []
    for _ in range(args.rounds):
        for mode, extra in MODES:
            runs.append(run_mode(args, mode, extra))
    sign.append(pc.rsa2048_sign_ms())
    if args.json:
        print(json.dumps({"rsa2048_sign_ms": sign, "runs": runs}))
    else:
        print(f"sealpost IMAPS sessions (TLS + LOGIN yescrypt + SELECT + FETCH + "
              f"LOGOUT), {args.clients} clients, {args.workers} workers; openssl "
              f"rsa2048 sign {sign[0]:.3f} ms before, {sign[1]:.3f} ms after")
        for r in runs:
            print(f"  cache {r['mode']:<3}  {r['per_s']:7.1f} sessions/s  p50 "
                  f"{r['p50_ms']:.1f} ms  p99 {r['p99_ms']:.1f} ms  server cpu "
                  f"{r['server_cpu_ms']:.2f} ms/session  client cpu "
                  f"{r['client_cpu_ms']:.2f} ms  ({r['sessions']} sessions, "
                  f"{r['cached_logins']} cached logins)"
                  + (f"  PROBLEMS {r['errors']} {r['server_problems']}"
                     if r["errors"] or r["server_problems"] else ""))
        for mode in ("off", "on"):
            rates = [r["per_s"] for r in runs if r["mode"] == mode]
            cpus = [r["server_cpu_ms"] for r in runs if r["mode"] == mode]
            print(f"  {mode:<3} best {max(rates):.1f} sessions/s, least server cpu "
                  f"{min(cpus):.2f} ms/session")
    ok = all(not r["errors"] and r["server_exit"] == 0 and not r["server_problems"]
             for r in runs)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
