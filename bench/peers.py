#!/usr/bin/python3
"""sealpost beside Debian's Postfix and Dovecot, in one run on this machine.

    make bench BENCH_ARGS="--peers"                  # every load, A B A B
    make bench BENCH_ARGS="--peers --repeat 3 -d 10"
    make bench BENCH_ARGS="--peers --loads smtp1,imap_sha512 --json"

Starts the three servers on loopback in one temporary folder (configs from
bench/conf/, nothing in /etc changed, no system service touched), with the
same RSA-2048 certificate, the same password hashes and the same messages,
then runs each load against the peer and sealpost in turn (peer, sealpost,
peer, sealpost, ...) with the C load generator build/bench/loadgen, and
prints per load: operations/s, server CPU per operation (utime + stime of
every process of the server, including the children it spawned and
reaped) and the peer/sealpost ratios; and the memory (PSS) per idle TLS
connection before and after login. The `openssl speed rsa2048` sign time is
measured at the start and at the end. See bench/README.md."""
import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_server                                    # noqa: E402
import peer_servers                                    # noqa: E402
import smtp_load                                       # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The loads of issue 15's table. kind is the loadgen mode; peer is the
# server sealpost is compared with.
LOADS = [
    {"key": "smtp1", "kind": "smtp", "peer": "postfix", "per_conn": 1,
     "title": "SMTP STARTTLS, 1 msg per connection", "unit": "msg/s"},
    {"key": "smtp20", "kind": "smtp", "peer": "postfix", "per_conn": 20,
     "title": "SMTP STARTTLS, 20 msgs per connection", "unit": "msg/s"},
    {"key": "tls_full", "kind": "handshake", "peer": "dovecot",
     "title": "full TLS handshakes (IMAPS)", "unit": "/s"},
    {"key": "tls_resume", "kind": "handshake", "peer": "dovecot", "resume": True,
     "title": "resumed TLS handshakes (IMAPS)", "unit": "/s"},
    {"key": "imap_sha512", "kind": "imap", "peer": "dovecot", "user": "sha512",
     "title": "IMAPS LOGIN+SELECT+FETCH+LOGOUT, SHA512-CRYPT", "unit": "/s"},
    {"key": "imap_yescrypt", "kind": "imap", "peer": "dovecot", "user": "yescrypt",
     "title": "IMAPS LOGIN+SELECT+FETCH+LOGOUT, yescrypt", "unit": "/s"},
    {"key": "idle", "kind": "idle", "peer": "dovecot", "user": "sha512",
     "title": "idle IMAPS connections", "unit": "KiB"},
]
LOAD_KEYS = [x["key"] for x in LOADS]
# Wait at most this long for Postfix to deliver what it acknowledged.
DELIVERY_TIMEOUT = 180
DELIVERY_POLL = 0.02
# A loadgen run may take this much longer than its duration (the tail of
# operations in flight, a slow server) before it counts as hung.
LOADGEN_GRACE = 300
# Warm-up before an idle-memory measurement: operations of each kind.
IDLE_WARMUP_OPS = 16


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="smtp_load.py --peers", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--loads", default=",".join(LOAD_KEYS),
                   help="comma-separated subset of: " + ", ".join(LOAD_KEYS))
    p.add_argument("-d", "--duration", type=float, default=10.0,
                   help="seconds of each measured run")
    p.add_argument("--repeat", type=int, default=2,
                   help="runs per server and load, interleaved peer, sealpost, "
                        "peer, sealpost, ...")
    p.add_argument("--warmup", type=float, default=1.0,
                   help="seconds of unmeasured load per server before a load's "
                        "runs (0: none)")
    p.add_argument("--conns", type=int, default=10, help="concurrent clients")
    p.add_argument("--threads", type=int, default=2,
                   help="load generator event loops (threads)")
    p.add_argument("--idle-conns", type=int, default=5000,
                   help="idle: connections held open")
    p.add_argument("--settle", type=float, default=2.0,
                   help="idle: seconds to wait before each PSS reading")
    p.add_argument("--quiet-wait", type=float, default=30.0,
                   help="before each run wait up to this many seconds for the "
                        "machine to be idle (0: do not wait)")
    p.add_argument("--workers", type=int, default=2, help="sealpost workers")
    p.add_argument("--binary", default=os.path.join(ROOT, "build/sealpost"),
                   help="the sealpost binary")
    p.add_argument("--loadgen", default=os.path.join(ROOT, "build/bench/loadgen"),
                   help="the C load generator")
    p.add_argument("--keep", action="store_true",
                   help="keep the temporary folder (configs, logs, Maildirs)")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object instead of the tables")
    p.add_argument("--json-out", metavar="FILE",
                   help="also write every figure as JSON to FILE")
    args = p.parse_args(argv)
    args.loads = [x.strip() for x in args.loads.split(",") if x.strip()]
    bad = [x for x in args.loads if x not in LOAD_KEYS]
    if bad or not args.loads:
        p.error(f"--loads: unknown {bad}; choose from {', '.join(LOAD_KEYS)}")
    if args.repeat < 1 or args.conns < 1 or args.threads < 1 or args.idle_conns < 1:
        p.error("--repeat, --conns, --threads and --idle-conns must be at least 1")
    if args.duration <= 0:
        p.error("--duration must be more than 0")
    return args


def preflight(args):
    """One clear line for what is missing, before anything starts."""
    if os.geteuid() != 0:
        return ("--peers needs root: postfix(1) starts only as root (the "
                "servers then drop to their own users)")
    for path, hint in ((args.binary, "run make"),
                       (args.loadgen, "run make build/bench/loadgen")):
        if not os.access(path, os.X_OK):
            return f"{path} not found: {hint}"
    for cmd in ("postfix", "dovecot", "openssl"):
        if not any(os.access(os.path.join(d, cmd), os.X_OK)
                   for d in os.environ.get("PATH", "/usr/sbin:/usr/bin").split(":")
                   + ["/usr/sbin", "/usr/bin"]):
            return f"{cmd} not found: run scripts/install-deps.sh"
    return None


def openssl_sign_ms():
    """RSA-2048 sign time of `openssl speed -seconds 1 rsa2048` (ms): the
    CPU's speed at this moment (this VM's drifts by a third)."""
    ms = bench_server.rsa2048_sign_ms()
    if ms is None:
        raise RuntimeError("openssl speed: no rsa 2048 line in its output")
    return ms


# ---- one run of the load generator ------------------------------------------------

def server_port(world, server, kind):
    if server is world.sealpost:
        return server.ports["smtp" if kind == "smtp" else "imaps"]
    return server.port


def loadgen_cmd(args, world, server, load, duration=None, count=None,
                ids=None, run_id=None, conns=None):
    kind = load["kind"]
    cmd = [args.loadgen, kind, "--port", str(server_port(world, server, kind)),
           "--cafile", world.cafile, "--conns", str(conns or args.conns),
           "--threads", str(args.threads)]
    cmd += ["--count", str(count)] if count else ["--duration", f"{duration:g}"]
    if kind == "smtp":
        cmd += ["--per-conn", str(load["per_conn"]), "--rcpt", peer_servers.RCPT,
                "--from", peer_servers.SENDER, "--run-id", run_id, "--ids", ids]
    if load.get("resume"):
        cmd.append("--resume")
    if kind in ("imap", "idle"):
        cmd += ["--user", peer_servers.IMAP_USERS[load["user"]],
                "--password-file", world.password_file]
        for path in world.expect:
            cmd += ["--expect", path]
    return cmd


def parse_loadgen(out, err, rc):
    for line in reversed(out.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise RuntimeError(f"loadgen exited {rc} without a result: {err.strip()[-500:]}")


def read_ids(path):
    acked, unknown = [], []
    with open(path) as f:
        for line in f:
            kind, _, msgid = line.strip().partition(" ")
            (acked if kind == "A" else unknown).append(msgid)
    return acked, unknown


def wait_delivered(server, maildir, want, t_start):
    """Wait until want messages are in the Maildir (and Postfix's queue is
    empty). Returns (seconds from t_start until then, or None if they did
    not all arrive in time; whether the first look found them all)."""
    deadline = time.monotonic() + DELIVERY_TIMEOUT
    first = True
    while True:
        done = peer_servers.count_files(maildir) >= want and \
            (not isinstance(server, peer_servers.Postfix) or server.queue_empty())
        if done:
            return time.monotonic() - t_start, first
        if time.monotonic() > deadline:
            return None, first
        first = False
        time.sleep(DELIVERY_POLL)


def measure(args, world, server, load, duration, tmp):
    """One run of a load against one server: figures and checks."""
    kind = load["kind"]
    run_id = "peers-" + uuid.uuid4().hex[:10]
    ids = os.path.join(tmp, run_id + ".ids")
    maildir = server.maildir(peer_servers.RCPT) if kind == "smtp" else None
    if maildir:
        peer_servers.clear_maildir_new(maildir)
    if args.quiet_wait > 0:
        smtp_load.wait_quiet(args.quiet_wait)
    t0, m0, c0 = time.monotonic(), bench_server.machine_cpu(), server.tree.cpu()
    r = subprocess.run(loadgen_cmd(args, world, server, load, duration=duration,
                                   ids=ids, run_id=run_id),
                       capture_output=True, text=True,
                       timeout=duration + LOADGEN_GRACE)
    lg = parse_loadgen(r.stdout, r.stderr, r.returncode)
    wall, delivery = lg["wall_s"], None
    if kind == "smtp":
        acked, unknown = read_ids(ids)
        t, first = wait_delivered(server, maildir, len(acked), lg["t_start"])
        # Postfix answers 250 once the message is in its queue and delivers
        # after: the run lasts until the last acknowledged message is in
        # the Maildir. (sealpost delivers before its 250: found at once.)
        if t is not None and not first:
            wall = max(wall, t)
        delivery = smtp_load.verify_delivery(maildir, run_id, acked, unknown)
        if t is None:
            delivery["ok"] = False
            delivery["timeout"] = True
    c1, m1 = server.tree.cpu(), bench_server.machine_cpu()
    others = others_cpu_pct(m0, m1, time.monotonic() - t0, c1 - c0 + lg["cpu_s"])
    if maildir:
        peer_servers.clear_maildir_new(maildir)
    out = summarize(server, lg, wall, c1 - c0, others, delivery)
    # How long after the load generator's last 250 the last message was in
    # the Maildir (Postfix's queue draining; 0 for sealpost).
    out["delivery_lag_s"] = wall - lg["wall_s"]
    return out


def others_cpu_pct(m0, m1, elapsed, ours_s):
    """CPU the rest of the machine used between two samples, in % of one
    core: busy time minus our server and client, kernel threads and
    interrupts (network and disk work, partly ours)."""
    busy_s = (m1["busy"] - m0["busy"]) / bench_server.CLK_TCK
    kernel_s = (m1["kthreads_s"] - m0["kthreads_s"]
                + (m1["irq"] - m0["irq"]) / bench_server.CLK_TCK)
    return max(0.0, 100 * (busy_s - ours_s - kernel_s) / max(elapsed, 1e-6))


def summarize(server, lg, wall, server_cpu, others, delivery):
    ops = lg["ops"]
    ok = (lg["error_count"] == 0 and ops > 0 and server.alive()
          and (delivery is None or delivery.get("ok")))
    return {"server": server.name, "ops": ops, "wall_s": wall,
            "ops_per_s": ops / wall if wall > 0 else 0.0,
            "server_cpu_s": server_cpu,
            "server_cpu_ms_per_op": 1000 * server_cpu / ops if ops else None,
            "client_cpu_ms_per_op": 1000 * lg["cpu_s"] / ops if ops else None,
            "others_cpu_pct": others,
            "handshakes": lg["handshakes"], "resumed": lg["resumed"],
            "latency_ms": lg["latency_ms"], "tls": lg["tls"],
            "errors": lg["errors"], "delivery": delivery, "ok": bool(ok)}


# ---- idle connections: memory ---------------------------------------------------

class IdleRun:
    """The load generator's idle mode, phase by phase."""

    def __init__(self, cmd):
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)

    def phase(self, word):
        """Read "<word> N errors E seconds S"; returns (N, E, S)."""
        line = self.proc.stdout.readline()
        f = line.split()
        if len(f) != 6 or f[0] != word:
            self.proc.kill()
            raise RuntimeError(f"loadgen idle: expected '{word} ...', got "
                               f"{line!r} {self.proc.stderr.read()[-500:]}")
        return int(f[1]), int(f[3]), float(f[5])

    def next(self):
        self.proc.stdin.write("\n")
        self.proc.stdin.flush()

    def finish(self):
        self.next()
        out, err = self.proc.communicate(timeout=LOADGEN_GRACE)
        return parse_loadgen(out, err, self.proc.returncode)


def warm_up_idle(args, world, server):
    """Page in code and make one-off allocations before the baseline."""
    for key in ("tls_full", "imap_sha512"):
        load = next(x for x in LOADS if x["key"] == key)
        subprocess.run(loadgen_cmd(args, world, server, load, count=IDLE_WARMUP_OPS),
                       capture_output=True, timeout=LOADGEN_GRACE)


def measure_idle(args, world, server, load):
    """A fresh server: PSS with no connection, with N idle TLS connections
    (after the greeting), and with the N logged in and SELECTed."""
    server.stop()
    server.start()
    warm_up_idle(args, world, server)
    n = args.idle_conns
    time.sleep(args.settle)
    pss0, procs0 = server.tree.pss_kib()
    cpu0 = server.tree.cpu()
    run = IdleRun(loadgen_cmd(args, world, server, load, duration=1, conns=n))
    opened, err_open, s_open = run.phase("open")
    cpu1 = server.tree.cpu()
    time.sleep(args.settle)
    pss1, procs1 = server.tree.pss_kib()
    run.next()
    logged, err_login, s_login = run.phase("login")
    cpu2 = server.tree.cpu()
    time.sleep(args.settle)
    pss2, procs2 = server.tree.pss_kib()
    lg = run.finish()
    ok = (lg["error_count"] == 0 and opened == n and logged == n and server.alive())
    return {"server": server.name, "n": n, "opened": opened, "logged_in": logged,
            "pss_kib": [pss0, pss1, pss2], "processes": [procs0, procs1, procs2],
            "open_kib_per_conn": (pss1 - pss0) / n,
            "login_kib_per_conn": (pss2 - pss0) / n,
            "open_per_s": opened / s_open if s_open else 0.0,
            "login_per_s": logged / s_login if s_login else 0.0,
            "open_cpu_ms_per_conn": 1000 * (cpu1 - cpu0) / max(1, opened),
            "login_cpu_ms_per_conn": 1000 * (cpu2 - cpu1) / max(1, logged),
            "errors": lg["errors"], "ok": bool(ok)}


# ---- the run ---------------------------------------------------------------------

def progress(text):
    print(text, file=sys.stderr, flush=True)


def run_loads(args, world, tmp):
    rows = []
    for load in LOADS:
        if load["key"] not in args.loads or load["kind"] == "idle":
            continue
        peer = getattr(world, load["peer"])
        pair = (peer, world.sealpost)
        if args.warmup > 0:
            for server in pair:
                measure(args, world, server, load, args.warmup, tmp)
        runs = {peer.name: [], "sealpost": []}
        for _ in range(args.repeat):
            for server in pair:
                r = measure(args, world, server, load, args.duration, tmp)
                runs[server.name].append(r)
                progress(f"  {load['key']:<14} {server.name:<9} "
                         f"{r['ops_per_s']:9.1f} {load['unit']:<6} "
                         f"{fmt_ms(r['server_cpu_ms_per_op'])} ms CPU/op"
                         f"{'' if r['ok'] else '  FAILED'}")
        rows.append({"load": load, "peer": peer.name, "conns": args.conns,
                     "runs": runs})
    return rows


def run_idle(args, world):
    load = next(x for x in LOADS if x["key"] == "idle")
    if "idle" not in args.loads:
        return None
    peer = getattr(world, load["peer"])
    runs = {peer.name: [], "sealpost": []}
    for _ in range(args.repeat):
        for server in (peer, world.sealpost):
            r = measure_idle(args, world, server, load)
            runs[server.name].append(r)
            progress(f"  idle {r['n']:<9} {server.name:<9} "
                     f"{r['open_kib_per_conn']:7.1f} KiB before login, "
                     f"{r['login_kib_per_conn']:7.1f} KiB logged in"
                     f"{'' if r['ok'] else '  FAILED'}")
    return {"load": load, "peer": peer.name, "runs": runs}


def run(args):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    peer_servers.become_subreaper()
    result = {"kind": "peers", "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "commit": smtp_load.git_commit(), "machine": smtp_load.machine_info(),
              "duration": args.duration, "repeat": args.repeat, "conns": args.conns,
              "threads": args.threads, "warmup": args.warmup}
    tmp = tempfile.mkdtemp(prefix="sealpost-peers-")
    world = None
    try:
        progress(f"peers: setting up in {tmp}")
        result["sign_ms"] = [openssl_sign_ms()]
        world = peer_servers.World(args.binary, tmp, args.workers)
        result["versions"] = {s.name: s.version() for s in world.servers()}
        for s in world.servers():
            s.start()
        result["loads"] = run_loads(args, world, tmp)
        result["idle"] = run_idle(args, world)
        result["problems"] = {s.name: s.problems()[:20] for s in world.servers()}
        result["sign_ms"].append(openssl_sign_ms())
    finally:
        if world is not None:
            result["stop"] = world.stop_all()
        if args.keep:
            progress(f"kept {tmp}")
        else:
            peer_servers.remove_tree(tmp)
    result["ok"] = result_ok(result)
    return result


def result_ok(r):
    runs = [x for row in r.get("loads", []) for rs in row["runs"].values() for x in rs]
    if r.get("idle"):
        runs += [x for rs in r["idle"]["runs"].values() for x in rs]
    stops_ok = all(v in (0, None) for v in r.get("stop", {}).values())
    # A peer's log errors are printed but do not fail the run (Dovecot's
    # login processes, e.g., log stats-writer timeouts while it stops);
    # broken service shows up in the checks of the runs.
    return bool(runs) and all(x["ok"] for x in runs) and stops_ok and \
        not r.get("problems", {}).get("sealpost")


# ---- the report --------------------------------------------------------------------

def median(vals):
    vals = sorted(v for v in vals if v is not None)
    if not vals:
        return None
    mid = len(vals) // 2
    return vals[mid] if len(vals) % 2 else (vals[mid - 1] + vals[mid]) / 2


def fmt_num(v):
    if v is None:
        return "-"
    if v >= 100:
        return f"{v:,.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def fmt_ms(v):
    return "-" if v is None else (f"{v:.2f}" if v < 10 else f"{v:.1f}")


def fmt_ratio(a, b):
    if a is None or not b:
        return "-"
    return f"{a / b:.2f}"


def cell(vals, fmt):
    """Median, with the range when there are several runs."""
    m = median(vals)
    vals = [v for v in vals if v is not None]
    if len(vals) < 2:
        return fmt(m)
    return f"{fmt(m)} ({fmt(min(vals))}–{fmt(max(vals))})"


def checks_text(runs_all, load):
    bad = [r for r in runs_all if not r["ok"]]
    if bad:
        r = bad[0]
        what = r["errors"] or (r.get("delivery") or {}).get("examples") or "server died"
        return f"FAILED ({r['server']}: {str(what)[:120]})"
    kind = load["kind"]
    if kind == "smtp":
        n = sum(r["delivery"]["delivered"] for r in runs_all)
        return f"ok: {n:,} delivered once each"
    if kind == "imap":
        return f"ok: {sum(r['ops'] for r in runs_all):,} FETCHes byte-exact"
    return f"ok: {sum(r['ops'] for r in runs_all):,} greetings"


def load_row(row):
    load, peer = row["load"], row["peer"]
    p, s = row["runs"][peer], row["runs"]["sealpost"]

    def med(rs, key):
        return median([r[key] for r in rs])

    title = f"{load['title']}, {row['conns']} clients"
    if load.get("resume"):
        title += (f" (resumed: {peer_name(peer)} {resumed_pct(p):.0f} %, "
                  f"sealpost {resumed_pct(s):.0f} %)")
    others = max(r["others_cpu_pct"] for r in p + s)
    return (f"| {title} | {peer_name(peer)} "
            f"| {cell([r['ops_per_s'] for r in p], fmt_num)} "
            f"| {cell([r['ops_per_s'] for r in s], fmt_num)} "
            f"| {fmt_ratio(med(p, 'ops_per_s'), med(s, 'ops_per_s'))} "
            f"| {cell([r['server_cpu_ms_per_op'] for r in p], fmt_ms)} "
            f"| {cell([r['server_cpu_ms_per_op'] for r in s], fmt_ms)} "
            f"| {fmt_ratio(med(p, 'server_cpu_ms_per_op'), med(s, 'server_cpu_ms_per_op'))} "
            f"| {others:.0f} % | {checks_text(p + s, load)} |")


def resumed_pct(runs):
    h = sum(r["handshakes"] for r in runs)
    return 100 * sum(r["resumed"] for r in runs) / h if h else 0.0


def peer_name(name):
    return {"postfix": "Postfix", "dovecot": "Dovecot"}.get(name, name)


def idle_rows(idle):
    peer = idle["peer"]
    p, s = idle["runs"][peer], idle["runs"]["sealpost"]
    n = p[0]["n"]
    bad = [r for r in p + s if not r["ok"]]
    checks = (f"FAILED ({bad[0]['server']}: opened {bad[0]['opened']}, logged in "
              f"{bad[0]['logged_in']} of {n}; {str(bad[0]['errors'])[:100]})"
              if bad else f"ok: {n:,} held, each run")
    out = []
    for what, kib, rate, cpu in (
            ("before login (after the greeting)", "open_kib_per_conn", "open_per_s",
             "open_cpu_ms_per_conn"),
            ("logged in and SELECTed", "login_kib_per_conn", "login_per_s",
             "login_cpu_ms_per_conn")):
        out.append(
            f"| idle TLS connection {what}, {n:,} held | {peer_name(peer)} "
            f"| {cell([r[kib] for r in p], fmt_num)} "
            f"| {cell([r[kib] for r in s], fmt_num)} "
            f"| {fmt_ratio(median([r[kib] for r in p]), median([r[kib] for r in s]))} "
            f"| {fmt_num(median([r[rate] for r in p]))} → "
            f"{fmt_num(median([r[rate] for r in s]))} "
            f"| {cell([r[cpu] for r in p], fmt_ms)} "
            f"| {cell([r[cpu] for r in s], fmt_ms)} "
            f"| {fmt_ratio(median([r[cpu] for r in p]), median([r[cpu] for r in s]))} "
            f"| {checks} |")
    return out


def print_report(r):
    m = r["machine"]
    v = r["versions"]
    print(f"sealpost beside {v['postfix']} and {v['dovecot']}: {r['date']}, "
          f"commit {r['commit']}")
    print(f"machine: {m['cores']} cores ({m.get('cpu', '?')}), Linux {m['kernel']}, "
          f"{m['tmp_fs']}, {m['openssl']}")
    sign = r["sign_ms"]
    print(f"openssl speed -seconds 1 rsa2048: sign {sign[0]:.3f} ms at the start"
          + (f", {sign[1]:.3f} ms at the end" if len(sign) > 1 else ""))
    tls = {}
    for row in r["loads"]:
        for name, runs in row["runs"].items():
            tls.setdefault(name, set()).update(x["tls"] for x in runs if x["tls"])
    if tls:
        print("TLS negotiated: " + "; ".join(f"{n}: {', '.join(sorted(v))}"
                                            for n, v in sorted(tls.items())))
    print(f"each load: {r['repeat']} run(s) of {r['duration']:g} s per server, "
          f"peer and sealpost alternating (A B A B), after {r['warmup']:g} s of "
          f"warm-up; {r['conns']} clients from build/bench/loadgen "
          f"({r['threads']} thread(s)); median (range)")
    print()
    if r["loads"]:
        print("| load | peer | peer ops/s | sealpost ops/s | ops/s peer/sealpost "
              "| peer CPU ms/op | sealpost CPU ms/op | CPU peer/sealpost "
              "| others CPU (max) | checks |")
        print("|---|---|---:|---:|---:|---:|---:|---:|---:|---|")
        for row in r["loads"]:
            print(load_row(row))
        print()
    if r["idle"]:
        print("| idle memory | peer | peer KiB/conn (PSS) | sealpost KiB/conn (PSS) "
              "| peer/sealpost | conns/s (peer → sealpost) | peer CPU ms/conn "
              "| sealpost CPU ms/conn | CPU peer/sealpost | checks |")
        print("|---|---|---:|---:|---:|---:|---:|---:|---:|---|")
        for line in idle_rows(r["idle"]):
            print(line)
        print()
    for name, lines in r.get("problems", {}).items():
        for line in lines[:5]:
            print(f"{name} log: {line}")
    for name, rc in r.get("stop", {}).items():
        if rc not in (0, None):
            print(f"{name}: stop: {rc}")
    print("verdict: " + ("every check passed" if r["ok"] else "CHECKS FAILED"))


def main(argv):
    args = parse_args(argv)
    problem = preflight(args)
    if problem:
        print(f"sealpost: {problem}", file=sys.stderr)
        return 1
    try:
        r = run(args)
    except (RuntimeError, OSError, subprocess.SubprocessError) as e:
        # A server that would not start, a load generator that hung: the
        # servers are stopped and the folder removed (run's finally).
        print(f"sealpost: peers: {e}", file=sys.stderr)
        return 1
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(r, f, indent=1, sort_keys=True)
    if args.json:
        print(json.dumps(r, indent=1, sort_keys=True))
    else:
        print_report(r)
    sys.stdout.flush()
    return 0 if r["ok"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
