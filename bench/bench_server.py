"""The server side of the benchmark: start a throw-away sealpost, or describe
one that is already running, and read its processes' memory and CPU time
from /proc.

Only the Python standard library; Linux only (/proc)."""
import os
import random
import signal
import socket
import subprocess
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")
DOMAIN = "bench.test"
USER = "bench@" + DOMAIN
PASSWORD = "bench password, not a secret"
# The bench opens thousands of connections from 127.0.0.1: the server's
# per-address and total limits must not get in the way.
CONN_LIMIT = 1000000
START_TIMEOUT = 30
# Start-up is over once the RSS has not changed for this many 0.1 s samples.
QUIET_SAMPLES = 5


# Ports handed out by this process (two servers never get the same one).
_given_ports = set()
# How far below the ephemeral range free ports are looked for.
PORT_SPAN = 12000


def _ephemeral_low():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port(addresses=("127.0.0.1",), udp=False):
    """A TCP (and with udp, UDP) port nothing uses now on every address,
    chosen below the kernel's ephemeral range: a port from that range (what
    bind to port 0 gives) can be taken as some client's source port between
    this choice and the server's bind, which then fails "Address already in
    use" (a test run failed so)."""
    high = _ephemeral_low()
    low = max(1024, high - PORT_SPAN)
    kinds = (socket.SOCK_STREAM, socket.SOCK_DGRAM) if udp else (socket.SOCK_STREAM,)
    for _ in range(1000):
        port = random.randrange(low, high)
        if port in _given_ports:
            continue
        try:
            for addr in addresses:
                for kind in kinds:
                    with socket.socket(socket.AF_INET, kind) as s:
                        s.bind((addr, port))
        except OSError:
            continue
        _given_ports.add(port)
        return port
    raise RuntimeError("no free port on " + ", ".join(addresses))


def rsa2048_sign_ms():
    """The machine's RSA-2048 private-key operation time in ms, now, from
    `openssl speed -seconds 1 rsa2048` (this VM's speed drifts by a third:
    every report carries it); None when openssl printed no such line."""
    out = subprocess.run(["openssl", "speed", "-seconds", "1", "rsa2048"],
                         capture_output=True, text=True, timeout=120).stdout
    for line in out.splitlines():
        f = line.split()
        if f[:3] == ["rsa", "2048", "bits"] and f[3].endswith("s"):
            return 1000 * float(f[3][:-1])
    return None


def proc_stats():
    """{pid: the fields of /proc/PID/stat after the command name} of every
    process (the name may hold spaces and parens): fields[0] is the state,
    fields[1] the parent, fields[11:15] utime stime cutime cstime."""
    out = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        out[int(name)] = stat[stat.rindex(")") + 2:].split()
    return out


def child_pids(pid):
    """Direct children of pid (the master's workers)."""
    return sorted(p for p, fields in proc_stats().items() if int(fields[1]) == pid)


def proc_kb_fields(pid, name, keys):
    """Selected "Key: N kB" figures of /proc/<pid>/<name> (0 for a gone
    process)."""
    got = dict.fromkeys(keys, 0)
    try:
        with open(f"/proc/{pid}/{name}") as f:
            for line in f:
                key, _, rest = line.partition(":")
                if key in got:
                    got[key] = int(rest.split()[0])
    except OSError:
        pass
    return got


def proc_status_kib(pid, keys=("VmRSS", "RssAnon", "RssFile")):
    """Selected kB figures of /proc/<pid>/status."""
    return proc_kb_fields(pid, "status", keys)


def count_fds(pid):
    """Open file descriptors of pid (a worker has one per connection plus
    a fixed few)."""
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


def proc_cpu_split(pid):
    """(user, system) CPU seconds of every thread of pid."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return 0.0, 0.0
    fields = stat[stat.rindex(")") + 2:].split()
    # fields[0] is field 3 (state); utime and stime are fields 14 and 15.
    return int(fields[11]) / CLK_TCK, int(fields[12]) / CLK_TCK


def proc_cpu_seconds(pid):
    """User + system CPU time of every thread of pid (those gone too), in
    seconds, to the nanosecond: the process's CPU clock (what
    clock_getcpuclockid(3) returns: CPUCLOCK_SCHED of the whole process,
    encoded as ~pid << 3 | 2). /proc/PID/stat counts in ticks of 10 ms,
    too coarse for twenty idle connections (a CI run measured 0). Falls
    back to the ticks where the clock cannot be read."""
    try:
        return time.clock_gettime((~pid << 3) | 2)
    except OSError:
        return sum(proc_cpu_split(pid))


PF_KTHREAD = 0x00200000


def machine_cpu():
    """Jiffies of the whole machine from /proc/stat (busy, iowait, irq:
    hard and soft interrupts, total), plus CPU seconds of kernel threads
    (which do network and disk work partly on our behalf)."""
    with open("/proc/stat") as f:
        vals = [int(v) for v in f.readline().split()[1:]]
    idle, iowait = vals[3], vals[4]
    total = sum(vals[:8])        # guest time is already in user
    return {"busy": total - idle - iowait, "iowait": iowait,
            "irq": vals[5] + vals[6], "total": total,
            "kthreads_s": kthreads_cpu_seconds()}


def kthreads_cpu_seconds():
    total = 0
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[6]) & PF_KTHREAD:
            total += int(fields[11]) + int(fields[12])
    return total / CLK_TCK


class ServerProcs:
    """A running server known by its master's pid: RSS and CPU of the master
    plus its workers."""

    def __init__(self, master_pid):
        self.master = master_pid

    def pids(self):
        return [self.master] + child_pids(self.master)

    def rss(self):
        """Total of VmRSS, RssAnon, RssFile over the processes (KiB), and
        the number of processes."""
        total = {"VmRSS": 0, "RssAnon": 0, "RssFile": 0}
        pids = self.pids()
        each = []
        for pid in pids:
            one = proc_status_kib(pid)
            each.append(one["VmRSS"])
            for k, v in one.items():
                total[k] += v
        total["processes"] = len(pids)
        total["VmRSS_each"] = each        # master first, then the workers
        total["fds_each"] = [count_fds(pid) for pid in pids]
        return total

    def cpu(self):
        return sum(proc_cpu_seconds(p) for p in self.pids())

    def cpu_system(self):
        """The part of cpu() spent in the kernel."""
        return sum(proc_cpu_split(p)[1] for p in self.pids())

    def thread_cpu(self):
        """CPU seconds per thread: {(pid, tid): seconds}. A worker's event
        loop is its main thread (tid == pid); the others are its pool."""
        out = {}
        for pid in self.pids():
            try:
                tids = os.listdir(f"/proc/{pid}/task")
            except OSError:
                continue
            for tid in tids:
                try:
                    with open(f"/proc/{pid}/task/{tid}/stat") as f:
                        stat = f.read()
                except OSError:
                    continue
                fields = stat[stat.rindex(")") + 2:].split()
                out[(pid, int(tid))] = (int(fields[11]) + int(fields[12])) / CLK_TCK
        return out


class BenchServer(ServerProcs):
    """A fresh `sealpost serve` in root (a folder we own) on free loopback
    ports, with one user to receive mail."""

    def __init__(self, binary, root, workers=2, key="rsa:2048",
                 log_level="info", services=("smtp", "smtps"), top_extra=""):
        self.binary = os.path.abspath(binary)
        self.root = os.path.abspath(root)
        self.workers = workers
        self.key = key
        self.ports = {s: free_port() for s in services}
        self.conf = os.path.join(self.root, "sealpost.conf")
        self.log_path = os.path.join(self.root, "server.log")
        self.cafile = os.path.join(self.root, "certs", "mail.crt")
        self.proc = None
        os.makedirs(self.root, exist_ok=True)
        listen = "\n".join(f"{s} = 127.0.0.1:{p}" for s, p in self.ports.items())
        with open(self.conf, "w") as f:
            f.write(f"hostname = bench.localhost\n"
                    f"domains = {DOMAIN}\n"
                    f"data_dir = data\ncerts_dir = certs\ncertificate = mail\n"
                    f"log_level = {log_level}\nworkers = {workers}\n"
                    f"{top_extra}"
                    f"[listen]\n{listen}\n"
                    f"[limits]\nmax_connections = {CONN_LIMIT}\n"
                    f"max_connections_per_ip = {CONN_LIMIT}\n")
        self._cli("cert", "create", "mail", "--cn", "localhost",
                  "--san", "DNS:localhost,DNS:bench.localhost,IP:127.0.0.1", *self._key_args())
        self._cli("user", "add", USER, input_text=PASSWORD + "\n")

    def add_user(self, address, password=PASSWORD):
        """Another account (`sealpost user add`, password on stdin)."""
        self._cli("user", "add", address, input_text=password + "\n")

    def _key_args(self):
        kind, _, bits = self.key.partition(":")
        if kind == "ecdsa":
            return ["--type", "ecdsa"]
        if kind == "rsa" and bits in ("2048", "4096"):
            return ["--type", "rsa", "--bits", bits]
        raise ValueError(f"--key {self.key}: use rsa:2048, rsa:4096 or ecdsa")

    def _env(self):
        env = dict(os.environ)
        env.pop("SEALPOST_CONF", None)
        return env

    def _cli(self, *args, input_text=None):
        r = subprocess.run([self.binary, *args, "-c", self.conf], input=input_text,
                           capture_output=True, text=True, env=self._env(),
                           timeout=120)
        if r.returncode != 0:
            raise RuntimeError(f"sealpost {' '.join(args[:2])} failed: "
                               f"{r.stderr.strip()}")

    def start(self):
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([self.binary, "serve", "-c", self.conf],
                                     stdout=subprocess.DEVNULL, stderr=log,
                                     env=self._env())
        log.close()
        self.master = self.proc.pid
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited {self.proc.returncode}:\n"
                                   + self.log_tail())
            if "ready " in self.log_text() and \
                    len(child_pids(self.master)) >= self.workers:
                self._wait_quiet(deadline)
                return
            time.sleep(0.05)
        # Not left running: a server that never said "ready" would hold
        # its ports and folders (and a --fresh-fs mount) after the bench.
        self.stop()
        raise RuntimeError("server did not start:\n" + self.log_tail())

    def _wait_quiet(self, deadline):
        """Wait until the workers' start-up work is over (each hashes a
        dummy password, briefly using memory): RSS steady for a while."""
        last, steady = None, 0
        while time.monotonic() < deadline and steady < QUIET_SAMPLES:
            rss = self.rss()["VmRSS"]
            steady = steady + 1 if rss == last else 0
            last = rss
            time.sleep(0.1)

    def log_text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def log_tail(self, n=3000):
        return self.log_text()[-n:]

    def problems(self):
        """Log lines that point at a server problem: sanitizer reports,
        errors (a worker that died, a failed delivery), refused connections,
        accept failures."""
        bad = ("AddressSanitizer", "runtime error", "LeakSanitizer",
               ": error: ", " refused address=", "accept on ")
        return [line for line in self.log_text().splitlines()
                if any(b in line for b in bad)]

    def maildir(self, address=USER):
        local, domain = address.split("@")
        return os.path.join(self.root, "data", "mail", domain, local)

    def stop(self, timeout=60):
        """SIGTERM; returns the exit status (or None if it had to be killed)."""
        if self.proc is None:
            return 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            for pid in self.pids()[::-1]:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            self.proc.wait()
            rc = None
        self.proc = None
        return rc


def _probe_loop(spool, new, tag, data, deadline, lat):
    n = 0
    while time.perf_counter() < deadline:
        t1 = time.perf_counter()
        name = f"{tag}.{n}"
        path = os.path.join(spool, name)
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.link(path, os.path.join(new, name))
        dfd = os.open(new, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
        os.unlink(path)
        lat.append(time.perf_counter() - t1)
        n += 1


def fsync_probe(parent, seconds=2.0, threads=1, size=4096):
    """The disk's cost of durable deliveries without any server: in a
    temporary folder under parent, each of `threads` threads repeats what a
    commit does (create, write, fsync the file, link it into new/, fsync
    new/, unlink the spool name). Returns commits/s, p50 and p99 latency
    (ms) and the CPU time per commit (ms; nearly all of it in the kernel)."""
    import shutil
    import tempfile
    import threading
    root = tempfile.mkdtemp(prefix="sealpost-fsync-probe-", dir=parent)
    spool, new = os.path.join(root, "spool"), os.path.join(root, "new")
    os.mkdir(spool)
    os.mkdir(new)
    data = b"x" * size
    lat = []
    try:
        t_cpu, t0 = time.process_time(), time.perf_counter()
        deadline = t0 + seconds
        workers = [threading.Thread(target=_probe_loop,
                                    args=(spool, new, i, data, deadline, lat))
                   for i in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        wall = time.perf_counter() - t0
        cpu = time.process_time() - t_cpu
    finally:
        shutil.rmtree(root, ignore_errors=True)
    lat.sort()
    return {"threads": threads, "commits_per_s": len(lat) / wall,
            "p50_ms": 1000 * lat[len(lat) // 2],
            "p99_ms": 1000 * lat[min(len(lat) - 1, int(len(lat) * 0.99))],
            "cpu_ms_per_commit": 1000 * cpu / len(lat)}
