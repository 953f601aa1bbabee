#!/usr/bin/env python3
"""Outbound throughput: sealpost beside Postfix, both relaying the same load
to the same sink (Postfix's smtp-sink).

    make bench-outbound                      # 20000 messages, 20 sessions
    /usr/bin/python3 bench/outbound_bench.py --messages 5000 --repeat 3

Each run starts, in one temporary folder, smtp-sink on a free loopback port
and the server under test: a release-build sealpost (`relayhost =
[127.0.0.1]:<sink>`, submission over implicit TLS with AUTH, `workers = 2`)
or Debian's Postfix (`postfix -c <folder> start`, `relayhost` the same, mail
accepted from 127.0.0.0/8 over STARTTLS without AUTH, nothing in /etc
used). Both fsync a message before they answer 250 (sealpost: its queue
file, the message and the folder; Postfix: cleanup(8) fsyncs the queue
file), and both keep it until the sink's 250. The client (bench/
bench_client.py) opens the sessions first, then sends the messages (4 KiB
each, MAIL/RCPT/DATA pipelined) over them; the clock runs from the first
message to the sink's count reaching the last acknowledged one.

Printed per server: messages/s end to end, server CPU per message (user +
system time of every process of the server, with the children it reaped,
from /proc), and the check that the sink got every acknowledged message.
Needs root (Postfix's master must be started by root; sealpost drops to
the `sealpost` user as a real deployment does). Python standard library
only, Linux (/proc)."""
import argparse
import os
import pty
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_client  # noqa: E402
import bench_server  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLK_TCK = bench_server.CLK_TCK
DOMAIN, USER, PASSWORD = bench_server.DOMAIN, bench_server.USER, bench_server.PASSWORD
START_TIMEOUT = bench_server.START_TIMEOUT
free_port = bench_server.free_port
RCPT = "sink@relay.example"       # another domain: relayed
MAIL_USER = "sealpost"
# Connections the servers must accept from 127.0.0.1 (limits out of the way).
CONN_LIMIT = 100000


def wait_port(port, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            s.settimeout(0.5)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.05)
    return False


# ---- CPU over a process tree ------------------------------------------------------

def _proc_table():
    """(pid, ppid, user, system) of every process, with reaped children's."""
    return [(pid, int(f[1]), int(f[11]) + int(f[13]), int(f[12]) + int(f[14]))
            for pid, f in bench_server.proc_stats().items()]


def _comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return "?"


def tree_cpu_by_name(root_pid):
    """CPU seconds of root_pid and every process under it, with the
    children they reaped (Postfix's smtp(8) processes come and go), summed
    per process name."""
    table = _proc_table()
    children = {}
    cpu = {}
    for pid, ppid, user, system in table:
        children.setdefault(ppid, []).append(pid)
        cpu[pid] = (user, system)
    out, todo = {}, [root_pid]
    while todo:
        pid = todo.pop()
        name = _comm(pid)
        user, system = cpu.get(pid, (0, 0))
        out[name] = out.get(name, 0) + (user + system) / CLK_TCK
        out["(kernel)"] = out.get("(kernel)", 0) + system / CLK_TCK
        todo.extend(children.get(pid, ()))
    return out


def _servers_cpu(by_name):
    return sum(v for k, v in by_name.items() if k != "(kernel)")


def tree_cpu(root_pid):
    return _servers_cpu(tree_cpu_by_name(root_pid))


# ---- the sink ---------------------------------------------------------------------

class Sink:
    """smtp-sink on a free port, counting the messages it accepted."""

    def __init__(self, root):
        self.port = free_port()
        self.count = 0
        # On a terminal smtp-sink writes its counter at once ("sess=0 quit=0
        # mesg=N\r"); into a pipe it would sit in a buffer.
        self.master, slave = pty.openpty()
        self.proc = subprocess.Popen(
            ["/usr/sbin/smtp-sink", "-c", "-u", "postfix", f"127.0.0.1:{self.port}",
             "1024"], stdout=slave, stderr=slave, stdin=subprocess.DEVNULL, cwd=root)
        os.close(slave)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()
        if not wait_port(self.port, START_TIMEOUT):
            raise RuntimeError("smtp-sink did not start")

    def _read(self):
        buf = b""
        while True:
            try:
                chunk = os.read(self.master, 4096)
            except OSError:
                return
            if not chunk:
                return
            buf = (buf + chunk)[-4096:]
            found = re.findall(rb"mesg=(\d+)", buf)
            if found:
                self.count = int(found[-1])

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self.master)


# ---- the servers ----------------------------------------------------------------

def make_cert(root):
    crt, key = os.path.join(root, "bench.crt"), os.path.join(root, "bench.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                    "-keyout", key, "-out", crt, "-days", "30", "-subj",
                    "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, capture_output=True)
    return crt, key


class Sealpost:
    name = "sealpost"

    def __init__(self, binary, root, sink_port, crt, key, workers):
        self.binary = binary
        self.root = os.path.join(root, "sealpost")
        self.port = free_port()
        os.makedirs(os.path.join(self.root, "certs"))
        shutil.copy(crt, os.path.join(self.root, "certs", "mail.crt"))
        shutil.copy(key, os.path.join(self.root, "certs", "mail.key"))
        os.chmod(os.path.join(self.root, "certs", "mail.key"), 0o600)
        self.conf = os.path.join(self.root, "sealpost.conf")
        user = f"user = {MAIL_USER}\n" if os.geteuid() == 0 else ""
        with open(self.conf, "w") as f:
            f.write(f"hostname = bench.localhost\ndomains = {DOMAIN}\n"
                    f"data_dir = data\ncerts_dir = certs\ncertificate = mail\n"
                    f"workers = {workers}\n{user}"
                    f"[listen]\nsmtps = 127.0.0.1:{self.port}\n"
                    f"[limits]\nmax_connections = {CONN_LIMIT}\n"
                    f"max_connections_per_ip = {CONN_LIMIT}\n"
                    f"[outbound]\nrelayhost = [127.0.0.1]:{sink_port}\n")
        r = subprocess.run([self.binary, "user", "add", USER, "-c", self.conf],
                           input=PASSWORD + "\n", capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError("sealpost user add: " + r.stderr)
        self.proc = None

    def start(self):
        self.log = open(os.path.join(self.root, "server.log"), "wb")
        self.proc = subprocess.Popen([self.binary, "serve", "-c", self.conf],
                                     stdout=subprocess.DEVNULL, stderr=self.log)
        if not wait_port(self.port, START_TIMEOUT):
            raise RuntimeError("sealpost did not start")
        time.sleep(0.5)       # the queue process and the workers are up

    def pid(self):
        return self.proc.pid

    def client(self):
        return {"mode": "implicit", "ports": {"smtps": self.port}, "user": USER}

    def queue_empty(self):
        q = os.path.join(self.root, "data", "queue")
        return not any(n.endswith(".env") for n in os.listdir(q))

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(60)
        self.log.close()
        return rc

    def problems(self):
        with open(os.path.join(self.root, "server.log"), "rb") as f:
            text = f.read().decode(errors="replace")
        return [ln for ln in text.splitlines()
                if " error: " in ln or "smtpc deferred" in ln or "bounced" in ln]


POSTFIX_MAIN = """compatibility_level = 3.6
config_directory = {conf}
queue_directory = {queue}
data_directory = {data}
meta_directory = /etc/postfix
mail_owner = postfix
setgid_group = postdrop
maillog_file = {root}/postfix.log
maillog_file_prefixes = {root}
myhostname = bench.localhost
mydomain = bench.localhost
myorigin = bench.localhost
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relayhost = [127.0.0.1]:{sink}
alias_maps =
alias_database =
local_recipient_maps =
biff = no
smtpd_tls_cert_file = {crt}
smtpd_tls_key_file = {key}
smtpd_tls_security_level = may
smtpd_tls_protocols = >=TLSv1.2
smtpd_tls_loglevel = 0
smtp_tls_security_level = may
smtpd_client_connection_count_limit = 0
smtpd_client_connection_rate_limit = 0
smtpd_client_message_rate_limit = 0
smtpd_client_event_limit_exceptions = 127.0.0.0/8
"""

# Debian's master.cf without chroot and the pipe transports; smtpd on the
# bench's port.
POSTFIX_MASTER = """127.0.0.1:{port} inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


class Postfix:
    name = "postfix"

    def __init__(self, root, sink_port, crt, key):
        self.root = os.path.join(root, "postfix")
        self.conf = os.path.join(self.root, "conf")
        self.queue = os.path.join(self.root, "queue")
        data = os.path.join(self.root, "data")
        self.port = free_port()
        for d in (self.conf, self.queue, data):
            os.makedirs(d, mode=0o755)
        os.chown(data, pwd.getpwnam("postfix").pw_uid, -1)
        with open(os.path.join(self.conf, "main.cf"), "w") as f:
            f.write(POSTFIX_MAIN.format(conf=self.conf, queue=self.queue, data=data,
                                        root=self.root, sink=sink_port, crt=crt,
                                        key=key))
        with open(os.path.join(self.conf, "master.cf"), "w") as f:
            f.write(POSTFIX_MASTER.format(port=self.port))
        self.master = None

    def _postfix(self, *args):
        return subprocess.run(["postfix", "-c", self.conf, *args],
                              capture_output=True, text=True, timeout=60)

    def start(self):
        r = self._postfix("start")
        if r.returncode != 0:
            raise RuntimeError("postfix start: " + r.stderr + r.stdout)
        with open(os.path.join(self.queue, "pid", "master.pid")) as f:
            self.master = int(f.read().strip())
        if not wait_port(self.port, START_TIMEOUT):
            raise RuntimeError("postfix did not listen")
        time.sleep(0.5)

    def pid(self):
        return self.master

    def client(self):
        return {"mode": "starttls", "ports": {"smtp": self.port}, "user": USER}

    def queue_empty(self):
        for sub in ("maildrop", "incoming", "active", "deferred", "hold"):
            for _, _, files in os.walk(os.path.join(self.queue, sub)):
                if files:
                    return False
        return True

    def stop(self):
        pids = [self.master]
        r = self._postfix("stop")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(os.path.exists(f"/proc/{p}") for p in pids):
            time.sleep(0.05)
        return r.returncode

    def problems(self):
        try:
            with open(os.path.join(self.root, "postfix.log"), "rb") as f:
                text = f.read().decode(errors="replace")
        except OSError:
            return []
        return [ln for ln in text.splitlines()
                if any(w in ln for w in ("fatal:", "panic:", "error:",
                                         "status=deferred", "status=bounced"))]


# ---- one run ----------------------------------------------------------------------

def percentiles(vals):
    """p50 and p99 in milliseconds."""
    if not vals:
        return (0.0, 0.0)
    vals = sorted(vals)
    return (vals[len(vals) // 2] * 1000, vals[min(len(vals) - 1, len(vals) * 99 // 100)] * 1000)


def one_run(kind, args, root, crt, key):
    sink = Sink(root)
    if kind == "sealpost":
        server = Sealpost(args.binary, os.path.join(root, uuid.uuid4().hex[:6]),
                          sink.port, crt, key, args.workers)
    else:
        server = Postfix(os.path.join(root, uuid.uuid4().hex[:6]), sink.port, crt, key)
    try:
        server.start()
        cfg = {"host": "127.0.0.1", "cafile": crt, "insecure": False,
               "tls_name": "localhost", "password": PASSWORD, "rcpt": RCPT,
               "size": args.size, "duration": 0, "count": args.messages,
               "reconnect": False, "resume": False, "pipelining": True,
               "timeout": 120, "idle": False,
               "run_id": "outbound-" + uuid.uuid4().hex[:12]}
        cfg.update(server.client())
        clients = bench_client.Clients(cfg, args.sessions, args.procs)
        clients.wait_ready(120)
        by0, t0 = tree_cpu_by_name(server.pid()), time.monotonic()
        cpu0 = _servers_cpu(by0)
        clients.go()
        results = clients.wait_done(3600)
        acked = sum(len(r["acked"]) for r in results)
        deadline = time.monotonic() + 600
        while sink.count < acked and time.monotonic() < deadline:
            time.sleep(0.005)
        t1, by1 = time.monotonic(), tree_cpu_by_name(server.pid())
        cpu1 = _servers_cpu(by1)
        deadline = time.monotonic() + 30
        while not server.queue_empty() and time.monotonic() < deadline:
            time.sleep(0.05)
        errors = {}
        for r in results:
            for k, v in list(r["errors"].items()) + list(r["refused"].items()):
                errors[k] = errors.get(k, 0) + v
        return {"server": kind, "acked": acked, "sunk": sink.count,
                "seconds": t1 - t0, "rate": acked / (t1 - t0),
                "cpu_ms": (cpu1 - cpu0) * 1000 / max(acked, 1),
                "by_name": {k: (by1[k] - by0.get(k, 0)) * 1000 / max(acked, 1)
                            for k in by1},    # 0 too: a short run may not
                                              # reach a clock tick in each
                "client_cpu_ms": sum(r["cpu"] for r in results) * 1000 / max(acked, 1),
                "latency_ms": percentiles([x for r in results for x in r["latencies"]]),
                "queue_empty": server.queue_empty(), "errors": errors,
                "problems": server.problems()[:5]}
    finally:
        try:
            server.stop()
        finally:
            sink.stop()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=20000)
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--size", type=int, default=4096)
    ap.add_argument("--procs", type=int, default=1, help="client processes")
    ap.add_argument("--workers", type=int, default=2, help="sealpost workers")
    ap.add_argument("--repeat", type=int, default=1, help="runs of each, alternating")
    ap.add_argument("--only", choices=("sealpost", "postfix"))
    ap.add_argument("--binary", default=os.path.join(ROOT, "build", "sealpost"))
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    ap.add_argument("-v", "--verbose", action="store_true",
                    help="CPU per message of each kind of process, and the client's")
    args = ap.parse_args(argv)
    if os.geteuid() != 0:
        sys.exit("outbound_bench: run as root (Postfix's master needs it)")
    if not os.access(args.binary, os.X_OK):
        sys.exit(f"outbound_bench: {args.binary} not found: run make first")
    root = tempfile.mkdtemp(prefix="sealpost-outbound-bench-")
    os.chmod(root, 0o755)
    crt, key = make_cert(root)
    kinds = [args.only] if args.only else ["sealpost", "postfix"]
    print(f"outbound: {args.messages} messages of {args.size} bytes over {args.sessions} "
          f"sessions, relayed to smtp-sink; {os.cpu_count()} CPUs")
    runs = []
    ok = True
    try:
        for _ in range(args.repeat):
            for kind in kinds:
                r = one_run(kind, args, root, crt, key)
                runs.append(r)
                good = r["sunk"] >= r["acked"] == args.messages and r["queue_empty"] \
                    and not r["errors"]
                ok &= good
                print(f"  {kind:9s} {r['rate']:8.0f} msg/s  {r['cpu_ms']:6.3f} ms CPU/msg  "
                      f"{r['acked']} acknowledged, {r['sunk']} at the sink"
                      f"{'' if good else '  PROBLEM'}"
                      f"{'  errors ' + str(r['errors']) if r['errors'] else ''}", flush=True)
                if args.verbose:
                    print("      CPU ms/msg by process (and the kernel's part of all): " + ", ".join(
                        f"{k} {v:.3f}" for k, v in sorted(r["by_name"].items())) +
                        f"; client {r['client_cpu_ms']:.3f}; submission latency "
                        f"p50 {r['latency_ms'][0]:.1f} ms, p99 {r['latency_ms'][1]:.1f} ms")
                for line in r["problems"]:
                    print("     ", line[:200])
    finally:
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    if len(kinds) == 2:
        print("\n| server | messages/s | server CPU per message |\n| --- | --- | --- |")
        for kind in kinds:
            mine = [r for r in runs if r["server"] == kind]
            rates = sorted(r["rate"] for r in mine)
            cpus = sorted(r["cpu_ms"] for r in mine)
            print(f"| {kind} | {rates[len(rates) // 2]:.0f} | "
                  f"{cpus[len(cpus) // 2]:.3f} ms |")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
