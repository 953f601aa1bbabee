"""Faults around the server: the disk full during DATA, APPEND and a
certificate import, the open files limit reached, a worker killed under
load, log output nobody reads. The server keeps serving and leaves nothing
half-written."""
import fcntl
import os
import signal
import subprocess
import threading
import time

import pytest

from conftest import run_cli
from mailserver import PASSWORD, Raw, Server
from pki_material import get_material, snapshot

USER = "alice@example.test"


def kill_all(srv):
    """After a failure: SIGKILL the master and its workers, if still up."""
    if srv.proc is None:
        return
    for pid in worker_pids(srv) + [srv.proc.pid]:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    srv.proc.wait()
    srv.proc = None


def worker_pids(srv):
    return [int(p) for p in subprocess.run(["pgrep", "-P", str(srv.proc.pid)],
                                           capture_output=True, text=True).stdout.split()]


# ---- log output blocked -----------------------------------------------------

class PipeLogServer(Server):
    """A server whose stderr is a 4 KiB pipe that the test reads only when
    it says so."""

    def start(self):
        self.rfd, wfd = os.pipe()
        fcntl.fcntl(wfd, fcntl.F_SETPIPE_SZ, 4096)
        env = dict(os.environ)
        env.pop("SEALPOST_CONF", None)
        self.proc = subprocess.Popen([self.binary, "serve", "-c", self.conf],
                                     stdout=subprocess.DEVNULL, stderr=wfd, env=env)
        os.close(wfd)
        self.out = b""
        while b"ready " not in self.out:
            chunk = os.read(self.rfd, 65536)
            assert chunk, self.out
            self.out += chunk
        self.log = open(os.devnull, "ab")

    def drain(self, until=None, quiet=1.5, timeout=30):
        """Read the pipe until `until` shows up (None: until nothing came
        for `quiet` seconds)."""
        deadline = time.time() + timeout
        last = time.time()
        os.set_blocking(self.rfd, False)
        while time.time() < deadline:
            if until is not None and until in self.out:
                return True
            if until is None and time.time() - last > quiet:
                return True
            try:
                chunk = os.read(self.rfd, 65536)
            except BlockingIOError:
                time.sleep(0.05)
                continue
            if not chunk:
                break
            self.out += chunk
            last = time.time()
        return until is None or until in self.out


def smtp_session(port, bad=0):
    """A session; `bad` unknown commands, each logged as a reject."""
    c = Raw(port, timeout=10)
    assert c.reply()[0].startswith(b"220")
    assert c.cmd("EHLO x.test")[0].startswith(b"250")
    c.send(b"BOGUS\r\n" * bad)
    for _ in range(bad):
        assert c.reply()[0].startswith(b"500")
    assert c.cmd("QUIT")[0].startswith(b"221")
    c.close()


def test_full_stderr_never_stalls_the_server(tmp_path):
    """stderr is a full pipe nobody reads: sessions are served as quickly as
    ever, the lines that did not fit are counted, and the count is logged
    once stderr is read again."""
    srv = PipeLogServer(tmp_path, services=("smtp",), users=())
    try:
        check_full_stderr(srv)
    finally:
        kill_all(srv)


def check_full_stderr(srv):
    sessions, worst = 0, 0.0
    start = time.monotonic()
    # Each session logs 17 lines (~2.5 KB): 300 sessions are three times
    # the queue and 180 times the pipe.
    while sessions < 300:
        t = time.monotonic()
        smtp_session(srv.ports["smtp"], bad=15)
        worst = max(worst, time.monotonic() - t)
        sessions += 1
        assert time.monotonic() - start < 120, f"{sessions} sessions in 120 s"
    assert worst < 5, f"a session took {worst:.1f}s"
    # Reading again: each worker's queue comes out, then its note about the
    # rest.
    assert srv.drain(b"log dropped lines="), srv.out[-2000:]
    srv.drain()
    text = srv.out.decode(errors="replace")
    dropped = sum(int(part.split()[0]) for part in text.split("log dropped lines=")[1:])
    assert dropped > 0
    assert text.count(" smtp reject ") + dropped >= sessions * 15  # all told
    # every line whole: each one starts with a time stamp
    for line in text.splitlines():
        assert line[:4].isdigit() and " sealpost[" in line, line
    # still serving, and a clean stop with the log read to its end
    smtp_session(srv.ports["smtp"])
    reader = threading.Thread(target=srv.drain, args=(b"info: stopped",), daemon=True)
    reader.start()
    srv.proc.send_signal(signal.SIGTERM)
    assert srv.proc.wait(30) == 0
    reader.join(10)
    srv.proc = None
    os.close(srv.rfd)
    text = srv.out.decode(errors="replace")
    assert "info: stopped" in text
    assert "AddressSanitizer" not in text and "runtime error" not in text


# ---- the disk full ----------------------------------------------------------

@pytest.fixture
def small_fs(tmp_path):
    """A real file system that fills up: a 4 MiB tmpfs, unmounted after
    (with any server started on it by server_on() stopped first)."""
    mnt = tmp_path / "fs"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m,mode=0755", "tmpfs",
                    str(mnt)], check=True)
    started.clear()
    yield mnt
    for srv in started:
        kill_all(srv)
    subprocess.run(["umount", "-l", str(mnt)], check=False)


started = []


def fill(fs, leave):
    """Fill fs up to `leave` bytes free; returns the filler's path."""
    st = os.statvfs(fs)
    free = st.f_bavail * st.f_frsize
    path = os.path.join(fs, "filler")
    with open(path, "ab") as f:
        f.write(b"\0" * max(0, free - leave))
    return path


def server_on(root, fs, **kw):
    """A server whose data_dir is on fs (its log and config are not)."""
    os.makedirs(root)
    os.symlink(fs, os.path.join(root, "data"))
    srv = Server(root, **kw)
    started.append(srv)
    return srv


def files_under(path):
    return sorted(os.path.relpath(os.path.join(d, f), path)
                  for d, _, fs in os.walk(path) for f in fs)


def send_message(c, body):
    """MAIL, RCPT, DATA and body on session c; the reply to the data."""
    c.cmd("MAIL FROM:<a@remote.test>")
    c.cmd(f"RCPT TO:<{USER}>")
    assert c.cmd("DATA")[0].startswith(b"354")
    c.send(body + b".\r\n")
    return c.reply()


def refused_then_taken(srv, body, reply, fix):
    """body is refused with reply; after fix() nothing of it is found (no
    spool file, no message), the session goes on and the same message
    goes in."""
    c = Raw(srv.ports["smtp"])
    c.reply()
    c.cmd("EHLO x.test")
    assert send_message(c, body) == [reply]
    srv.wait_log("delivery failed")   # log lines have a writer thread
    fix()
    assert os.listdir(os.path.join(srv.data, "spool")) == []
    assert srv.messages(USER) == [] and srv.messages(USER, "cur") == []
    assert c.cmd("NOOP") == [b"250 2.0.0 Ok"]
    assert send_message(c, body)[0].startswith(b"250 2.0.0 Ok: queued")
    c.close()
    assert len(srv.messages(USER)) == 1
    srv.check_clean_exit()


def test_disk_full_during_data(tmp_path, small_fs):
    srv = server_on(tmp_path / "srv", small_fs, services=("smtp",))
    body = b"Subject: big\r\n\r\n" + (b"x" * 998 + b"\r\n") * 1000      # 1 MB
    filler = fill(small_fs, 200 * 1024)
    refused_then_taken(srv, body, b"452 4.3.1 Error: insufficient system storage",
                       lambda: os.unlink(filler))


def test_disk_full_small_message(tmp_path, small_fs):
    """A message of one chunk is written by its commit batch (no write job
    before it): a full disk there is a 452 too."""
    srv = server_on(tmp_path / "srv", small_fs, services=("smtp",))
    filler = fill(small_fs, 0)
    refused_then_taken(srv, b"Subject: small\r\n\r\n" + b"y" * 5000 + b"\r\n",
                       b"452 4.3.1 Error: insufficient system storage",
                       lambda: os.unlink(filler))


def test_spool_folder_unwritable(make_server):
    """The spool file is made with the message's first bytes: a spool
    folder the server cannot use is a 451 at the end of the data (the
    message is read to its end)."""
    srv = make_server(services=("smtp",))
    spool = os.path.join(srv.data, "spool")
    os.rename(spool, spool + ".away")
    with open(spool, "w"):
        pass                                 # a file where the folder was

    def fix():
        os.unlink(spool)
        os.rename(spool + ".away", spool)
    refused_then_taken(srv, b"Subject: s\r\n\r\n" + (b"z" * 998 + b"\r\n") * 200,
                       b"451 4.3.0 Error: local delivery failed; try again later", fix)


def test_disk_full_during_append(tmp_path, small_fs):
    srv = server_on(tmp_path / "srv", small_fs, services=("imaps",))
    msg = b"Subject: big\r\n\r\n" + (b"x" * 998 + b"\r\n") * 1000
    filler = fill(small_fs, 200 * 1024)
    c = Raw(srv.ports["imaps"], tls_ctx=srv.client_context())
    c.line()
    c.send(f'a LOGIN {USER} "{PASSWORD}"\r\n'.encode())
    while not c.line().startswith(b"a OK"):
        pass
    c.send(b"b APPEND INBOX {%d}\r\n" % len(msg))
    assert c.line().startswith(b"+")
    c.send(msg + b"\r\n")
    assert c.line() == b"b NO [OVERQUOTA] Not enough disk space"
    box = srv.maildir(USER)
    assert os.listdir(os.path.join(box, "tmp")) == []
    assert os.listdir(os.path.join(box, "new")) == []
    assert os.listdir(os.path.join(box, "cur")) == []
    c.send(b"n NOOP\r\n")
    assert c.line().startswith(b"n OK")
    os.unlink(filler)
    c.send(b"c APPEND INBOX {%d}\r\n" % len(msg))
    c.line()
    c.send(msg + b"\r\n")
    assert c.line().startswith(b"c OK [APPENDUID")
    c.close()
    srv.check_clean_exit()


@pytest.fixture(scope="module")
def mat(tmp_path_factory):
    return get_material(tmp_path_factory)


def test_disk_full_during_cert_import(mat, small_fs):
    """One error line, the certs folder as it was (a new pair, and a pair
    replaced with --force)."""
    certs = os.path.join(small_fs, "certs")
    r = run_cli("cert", "import", "rsa.crt", "--key", "rsa.key", "--name", "mail",
                "--dir", certs, cwd=mat)
    assert r.rc == 0, r
    before = snapshot(certs)
    fill(small_fs, 0)
    for args in (["--name", "other"], ["--name", "mail", "--force"]):
        r = run_cli("cert", "import", "ec.crt", "--key", "ec.key", *args,
                    "--dir", certs, cwd=mat)
        assert r.rc == 1, r
        lines = r.err.splitlines()
        assert len(lines) == 1 and lines[0].startswith("sealpost: "), r
        assert "No space left on device" in lines[0], r
        assert snapshot(certs) == before


# ---- the open files limit -----------------------------------------------------

def cpu_ticks(pids):
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])     # utime + stime
    return total


def test_fd_limit_accept_backs_off_without_spinning(make_server):
    """With the open files limit reached, accept(2) fails with EMFILE while
    clients wait in the backlog: the workers pause accepting instead of
    retrying at once, using next to no CPU, and take the waiting clients
    once descriptors are free again."""
    import resource
    srv = make_server(services=("smtp",), users=(),
                      limits="max_connections_per_ip = 10000")
    workers = worker_pids(srv)
    for pid in [srv.proc.pid] + workers:
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (64, 64))
    held = []
    try:
        for _ in range(200):
            try:
                held.append(Raw(srv.ports["smtp"], timeout=2))
            except OSError:     # a spinning server starves the handshakes
                break
        srv.wait_log("Too many open files", timeout=20)
        time.sleep(1)
        served = 0
        for c in held:
            c.sock.setblocking(False)
            try:
                served += c.sock.recv(100).startswith(b"220")
            except OSError:
                pass
        assert 0 < served < len(held), served      # the limit bites
        # at the limit: measure the workers' CPU over 5 s
        t0, c0 = time.monotonic(), cpu_ticks(workers)
        time.sleep(5)
        used = (cpu_ticks(workers) - c0) / os.sysconf("SC_CLK_TCK")
        share = used / (time.monotonic() - t0)
        print(f"workers' CPU at the fd limit: {share * 100:.1f}% of one core")
        assert share < 0.05, f"{share * 100:.0f}% of a core while at the limit"
        assert srv.proc.poll() is None and worker_pids(srv) == workers
    finally:
        for c in held:
            c.close()
    # descriptors free again: a new client is served
    deadline = time.time() + 20
    while True:
        c = Raw(srv.ports["smtp"], timeout=10)
        try:
            if c.reply()[0].startswith(b"220"):
                break
        except OSError:
            assert time.time() < deadline, "not served after the limit"
        finally:
            c.close()
    srv.check_clean_exit()


# ---- a worker killed under load -------------------------------------------------

def server_pid_of(srv, conn):
    """The worker process serving the client socket conn (from ss -p)."""
    port = srv.ports["smtp"]
    me = conn.sock.getsockname()[1]
    out = subprocess.run(["ss", "-Htnp", "state", "established",
                          f"( sport = :{port} )"], capture_output=True,
                         text=True).stdout
    for line in out.splitlines():
        fields = line.split()
        if fields[3].endswith(f":{me}") and "pid=" in line:
            return int(line.split("pid=")[1].split(",")[0])
    raise AssertionError(f"no server socket for client port {me}:\n{out}")


class Sender(threading.Thread):
    """One SMTP session sending messages until told to stop or cut off."""

    def __init__(self, c, name):
        super().__init__(daemon=True)
        self.c, self.name = c, name
        self.c.cmd("EHLO load.test")
        self.acked = []            # (time, subject) of each 250
        self.ended = None          # when the server cut the session
        self.stop = False

    def run(self):
        n = 0
        try:
            while not self.stop:
                subject = f"{self.name}-{n}"
                self.c.cmd("MAIL FROM:<load@remote.test>")
                self.c.cmd(f"RCPT TO:<{USER}>")
                self.c.cmd("DATA")
                r = self.c.cmd(f"Subject: {subject}\r\n\r\n".encode()
                               + b"x" * 4000 + b"\r\n.\r\n")
                if r[0].startswith(b"250"):
                    self.acked.append((time.monotonic(), subject))
                n += 1
        except (EOFError, OSError):
            self.ended = time.monotonic()


def spread(srv, per_worker):
    """Sessions, per_worker on each of the two workers (which worker takes
    a connection is the kernel's choice: surplus ones are closed)."""
    by_worker = {}
    for _ in range(200):
        if len(by_worker) == 2 and all(len(v) >= per_worker for v in by_worker.values()):
            return by_worker
        c = Raw(srv.ports["smtp"], timeout=20)
        assert c.reply()[0].startswith(b"220")
        pid = server_pid_of(srv, c)
        if len(by_worker.setdefault(pid, [])) < per_worker:
            by_worker[pid].append(c)
        else:
            c.cmd("QUIT")
            c.close()
            time.sleep(0.05)
    raise AssertionError(f"sessions went to one worker: {by_worker.keys()}")


def test_worker_killed_under_load(make_server):
    """SIGKILL one of two workers while both carry sessions sending mail:
    its sessions end, the other worker's sessions go on, the restarted
    worker serves, the per-address count comes back, and every message
    acknowledged with 250 is in the Maildir."""
    limit = 16
    srv = make_server(services=("smtp",), workers=2,
                      limits=f"max_connections_per_ip = {limit}")
    by_worker = spread(srv, 6)
    senders, idle, pids = [], [], {}
    for pid, conns in by_worker.items():
        for i, c in enumerate(conns):
            x = Sender(c, f"s{pid}-{i}") if i < 4 else c
            (senders if i < 4 else idle).append(x)
            pids[id(x)] = pid
    victim = min(by_worker)
    for s in senders:
        s.start()
    time.sleep(2)
    os.kill(victim, signal.SIGKILL)
    killed = time.monotonic()
    srv.wait_log(f"worker pid={victim} died")
    time.sleep(3)
    on_victim = [x for x in senders + idle if pids[id(x)] == victim]
    survivors = [x for x in senders + idle if pids[id(x)] != victim]
    # the victim's sessions ended, promptly
    for s in senders:
        if pids[id(s)] == victim:
            assert s.ended is not None and s.ended - killed < 3
    for c in idle:
        if pids[id(c)] == victim:
            c.sock.settimeout(3)
            assert c.sock.recv(10) == b""
    # the others go on: mail accepted after the kill, NOOP answered
    for s in senders:
        if pids[id(s)] != victim:
            assert s.ended is None and any(t > killed for t, _ in s.acked), s.name
    for c in idle:
        if pids[id(c)] != victim:
            assert c.cmd("NOOP") == [b"250 2.0.0 Ok"]
    for s in senders:
        s.stop = True
    for s in senders:
        s.join(30)
    # the dead worker's connections were given back: up to the limit again
    live = len(survivors)
    extra = []
    for _ in range(limit - live):
        c = Raw(srv.ports["smtp"], timeout=20)
        assert c.reply()[0].startswith(b"220"), "connection count leaked"
        extra.append(c)
    assert len({server_pid_of(srv, c) for c in extra} - {victim}) >= 1
    over = Raw(srv.ports["smtp"], timeout=20)
    assert over.read_all().startswith(b"421 4.7.0")
    for c in extra + idle + [s.c for s in senders]:
        c.close()
    # every acknowledged message is there, once
    stored = [m.split(b"Subject: ")[1].split(b"\r\n")[0].decode()
              for m in srv.messages(USER)]
    acked = [subj for s in senders for _, subj in s.acked]
    assert len(acked) > 8
    assert all(stored.count(a) == 1 for a in acked)
    assert len(on_victim) > 0 and len(survivors) > 0
    srv.check_clean_exit()
