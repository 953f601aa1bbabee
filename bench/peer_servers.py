"""The servers of the peers benchmark (bench/peers.py): sealpost, Debian's
Postfix and Dovecot, each in its own folder of one temporary tree, on free
loopback ports, with the same certificate, the same password hashes and the
same messages; and CPU time and PSS summed over a server's process tree.

Nothing outside the temporary tree is written: Postfix runs as
`postfix -c <conf> start` with its own queue_directory and data_directory,
Dovecot as `dovecot -F -c <conf>` with its own base_dir and state_dir; the
config templates are in bench/conf/. Postfix's master must be started by
root (postfix(1) refuses otherwise); Dovecot is started by root too so that
it runs as a real deployment does: login processes as dovenull (chrooted),
auth as dovecot, mail as the mail user. Mail is owned by one unprivileged
user for all three servers (MAIL_USER, the account scripts/install-deps.sh
creates; sealpost drops to it with `user =`).

Python standard library only; Linux only (/proc)."""
import ctypes
import glob
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import time

import bench_server

CONF_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "conf")
DOMAIN = bench_server.DOMAIN
PASSWORD = bench_server.PASSWORD
RCPT = bench_server.USER                      # SMTP loads deliver here
SENDER = "sender@" + DOMAIN
# IMAP logins: the same password under the two hashes sealpost accepts
# most often: SHA512-CRYPT (Dovecot's {SHA512-CRYPT}, 5000 rounds) and
# yescrypt (Debian's default, libxcrypt's default cost).
IMAP_USERS = {"sha512": "sha512@" + DOMAIN, "yescrypt": "yescrypt@" + DOMAIN}
MAIL_USER = "sealpost"
# Messages in each IMAP user's INBOX (FETCH n cycles over them).
FETCH_MESSAGES = 10
FETCH_SIZE = 4096
# Upper bound for connections and imap processes the peers must allow.
MAX_CONNS = 20000
START_TIMEOUT = 30
STOP_TIMEOUT = 30
PR_SET_CHILD_SUBREAPER = 36


def become_subreaper():
    """Orphans of our servers become our children, not pid 1's: Postfix's
    master daemonizes, and the children of a stopping master outlive it
    for a moment. We reap them (reap_orphans) instead of leaving zombies on
    a machine whose pid 1 may not reap."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def reap_orphans(pids):
    """Reap those of pids that have exited and became our children (never
    a child we wait for elsewhere: only pids of a stopped server's tree)."""
    me = os.getpid()
    for pid, ppid, state in _proc_table():
        if pid in pids and ppid == me and state == "Z":
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass


def _proc_table():
    """(pid, ppid, state) of every process."""
    return [(pid, int(f[1]), f[0]) for pid, f in bench_server.proc_stats().items()]


def _stat_fields(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2:].split()


class ProcTree:
    """A server known by the pid of its master: every process under it."""

    def __init__(self, root_pid):
        self.root = root_pid

    def pids(self):
        children = {}
        for pid, ppid, _ in _proc_table():
            children.setdefault(ppid, []).append(pid)
        out, todo = [], [self.root]
        while todo:
            pid = todo.pop()
            out.append(pid)
            todo.extend(children.get(pid, ()))
        return out

    def cpu(self):
        """CPU seconds (user + system) of every process of the tree, with
        the children they have reaped (cutime + cstime): a process that
        served a connection and exited still counts, through its parent."""
        total = 0.0
        for pid in self.pids():
            f = _stat_fields(pid)
            if f is not None:
                # A live process by its CPU clock (to the ns, as sealpost's
                # are measured); the reaped children by fields 16-17 of
                # proc(5), cutime and cstime: the kernel keeps only ticks.
                total += bench_server.proc_cpu_seconds(pid)
                total += (int(f[13]) + int(f[14])) / bench_server.CLK_TCK
        return total

    def pss_kib(self):
        """Proportional set size summed over the tree (/proc/<pid>/
        smaps_rollup): shared pages count once in all, split between the
        processes sharing them. Returns (KiB, processes)."""
        total, n = 0, 0
        for pid in self.pids():
            try:
                with open(f"/proc/{pid}/smaps_rollup") as f:
                    for line in f:
                        if line.startswith("Pss:"):
                            total += int(line.split()[1])
                            n += 1
                            break
            except OSError:
                continue
        return total, n


def wait_port(port, timeout, alive=None):
    """Wait until something accepts connections on 127.0.0.1:port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if alive is not None and not alive():
            return False
        with socket.socket() as s:
            s.settimeout(0.5)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.05)
    return False


def render(template, dest, values, mode=0o644):
    """Copy bench/conf/<template> to dest with every @NAME@ replaced."""
    with open(os.path.join(CONF_DIR, template)) as f:
        text = f.read()
    for key, val in values.items():
        text = text.replace(f"@{key}@", str(val))
    left = re.search(r"@[A-Z_]+@", text)
    if left:
        raise RuntimeError(f"{template}: no value for {left.group(0)}")
    with open(dest, "w") as f:
        f.write(text)
    os.chmod(dest, mode)


def message_bytes(n):
    """The n-th message of the IMAP mailboxes, LF line ends as Maildir
    files have them (FETCH returns them with CRLF)."""
    lines = [f"From: <{SENDER}>", f"To: <{RCPT}>", f"Subject: fetch test {n}",
             f"Message-ID: <fetch-{n}@{DOMAIN}>",
             "Date: Mon, 7 Dec 2026 10:00:00 +0000", ""]
    body, i = [], 0
    while sum(len(x) + 1 for x in lines + body) < FETCH_SIZE:
        body.append(f"message {n} line {i} " + "abcdefghij" * 6)
        i += 1
    return ("\n".join(lines + body) + "\n").encode()


def seed_maildir(path, uid, gid):
    """A Maildir holding the FETCH_MESSAGES messages in new/, owned by the
    mail user."""
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(path, sub), exist_ok=True)
    for n in range(1, FETCH_MESSAGES + 1):
        # Names in the order of n: both servers assign UIDs in name order.
        name = f"1796000000.M{n:06d}P1.bench"
        with open(os.path.join(path, "new", name), "wb") as f:
            f.write(message_bytes(n))
    for dirpath, _, files in os.walk(path):
        os.chown(dirpath, uid, gid)
        for name in files:
            os.chown(os.path.join(dirpath, name), uid, gid)


def sha512_crypt(password):
    """{SHA512-CRYPT} hash made by `openssl passwd -6` (password on stdin,
    never on a command line)."""
    r = subprocess.run(["openssl", "passwd", "-6", "-stdin"], input=password + "\n",
                       capture_output=True, text=True, timeout=30, check=True)
    return r.stdout.strip()


def log_problems(path, words):
    try:
        with open(path, "rb") as f:
            text = f.read().decode(errors="replace")
    except OSError:
        return []
    return [ln for ln in text.splitlines() if any(w in ln for w in words)]


def wait_gone(pids, timeout=STOP_TIMEOUT):
    """Wait until every process of a stopped server has exited, reaping
    those that became our children."""
    deadline = time.monotonic() + timeout
    left = set(pids)
    while left and time.monotonic() < deadline:
        reap_orphans(left)
        left = {p for p in left if os.path.exists(f"/proc/{p}")}
        if left:
            time.sleep(0.05)
    return not left


class Server:
    """What the benchmark needs of each server."""
    name = "?"
    proc = None
    tree = None

    def alive(self):
        return self.tree is not None and os.path.exists(f"/proc/{self.tree.root}")


class Sealpost(Server):
    name = "sealpost"

    def __init__(self, binary, root, workers, mail_uid):
        self.root = os.path.join(root, "sealpost")
        extra = f"user = {MAIL_USER}\n" if os.geteuid() == 0 else ""
        self.srv = bench_server.BenchServer(binary, self.root, workers,
                                            services=("smtp", "imaps"),
                                            top_extra=extra)
        self.ports = self.srv.ports
        self.cert = self.srv.cafile
        self.key = os.path.join(self.root, "certs", "mail.key")
        self.tree = None
        for user in IMAP_USERS.values():
            self.srv.add_user(user)

    def set_hash(self, address, hashed):
        """Replace address's passwd line (the server is not running)."""
        path = os.path.join(self.root, "data", "passwd")
        with open(path) as f:
            lines = f.read().splitlines()
        lines = [f"{address}:{hashed}" if ln.startswith(address + ":") else ln
                 for ln in lines]
        st = os.stat(path)
        with open(path + ".new", "w") as f:
            f.write("\n".join(lines) + "\n")
        os.chown(path + ".new", st.st_uid, st.st_gid)
        os.chmod(path + ".new", st.st_mode & 0o777)
        os.rename(path + ".new", path)

    def passwd_lines(self):
        with open(os.path.join(self.root, "data", "passwd")) as f:
            return [ln for ln in f.read().splitlines() if ln and ln[0] != "#"]

    def maildir(self, address):
        return self.srv.maildir(address)

    def start(self):
        self.srv.start()
        self.proc = self.srv.proc
        self.tree = ProcTree(self.srv.proc.pid)

    def stop(self):
        rc = self.srv.stop()
        self.proc = None
        self.tree = None
        return rc

    def problems(self):
        return self.srv.problems()

    def version(self):
        return "sealpost"      # the report names the commit


class Postfix(Server):
    """Postfix delivering bench@ to a Maildir through virtual(8), which
    fsyncs each file before it links it into new/ (cleanup(8) fsyncs the
    queue file before smtpd answers 250)."""
    name = "postfix"

    def __init__(self, root, cert, key, mail_uid, mail_gid):
        self.root = os.path.join(root, "postfix")
        self.conf = os.path.join(self.root, "conf")
        self.queue = os.path.join(self.root, "queue")
        self.data = os.path.join(self.root, "data")
        self.mail = os.path.join(self.root, "mail")
        self.log = os.path.join(self.root, "postfix.log")
        self.port = bench_server.free_port()
        self.tree = None
        for d in (self.conf, self.queue, self.data, self.mail):
            os.makedirs(d, mode=0o755, exist_ok=True)
        os.chown(self.data, pwd.getpwnam("postfix").pw_uid, -1)
        os.chown(self.mail, mail_uid, mail_gid)
        values = {"CONF_DIR": self.conf, "QUEUE_DIR": self.queue,
                  "DATA_DIR": self.data, "LOG_FILE": self.log, "ROOT": self.root,
                  "DOMAIN": DOMAIN, "MAIL_BASE": self.mail, "MAIL_UID": mail_uid,
                  "MAIL_GID": mail_gid, "CERT": cert, "KEY": key,
                  "SMTP_ADDR": f"127.0.0.1:{self.port}"}
        render("postfix-main.cf", os.path.join(self.conf, "main.cf"), values)
        render("postfix-master.cf", os.path.join(self.conf, "master.cf"), values)
        local, domain = RCPT.split("@")
        with open(os.path.join(self.conf, "vmailbox"), "w") as f:
            f.write(f"{RCPT} {domain}/{local}/\n")

    def _postfix(self, *args):
        return subprocess.run(["postfix", "-c", self.conf, *args],
                              capture_output=True, text=True, timeout=60)

    def start(self):
        r = self._postfix("start")
        if r.returncode != 0:
            raise RuntimeError("postfix start failed: " + (r.stderr + r.stdout)[-2000:]
                               + self.log_tail())
        with open(os.path.join(self.queue, "pid", "master.pid")) as f:
            self.tree = ProcTree(int(f.read().strip()))
        if not wait_port(self.port, START_TIMEOUT, self.alive):
            raise RuntimeError("postfix did not listen:\n" + self.log_tail())

    def stop(self):
        if self.tree is None:
            return 0
        pids = self.tree.pids()
        r = self._postfix("stop")
        gone = wait_gone(pids)
        self.tree = None
        return r.returncode if gone else "processes left after postfix stop"

    def maildir(self, address):
        local, domain = address.split("@")
        return os.path.join(self.mail, domain, local)

    def queue_empty(self):
        for sub in ("maildrop", "incoming", "active", "deferred", "hold"):
            for _, _, files in os.walk(os.path.join(self.queue, sub)):
                if files:
                    return False
        return True

    def log_tail(self, n=2000):
        try:
            with open(self.log, "rb") as f:
                return f.read().decode(errors="replace")[-n:]
        except OSError:
            return ""

    def problems(self):
        return log_problems(self.log, ("fatal:", "panic:", "error:",
                                       "status=deferred", "status=bounced"))

    def version(self):
        r = subprocess.run(["postconf", "-d", "-h", "mail_version"],
                           capture_output=True, text=True, timeout=30)
        return "Postfix " + r.stdout.strip()


class Dovecot(Server):
    """Dovecot IMAPS in its high-performance login mode, passwd-file with
    the same hash lines as sealpost's passwd file, Maildir."""
    name = "dovecot"

    def __init__(self, root, cert, key, passwd_lines, mail_uid, mail_gid):
        self.root = os.path.join(root, "dovecot")
        self.run_dir = os.path.join(self.root, "run")
        self.mail = os.path.join(self.root, "mail")
        self.conf = os.path.join(self.root, "dovecot.conf")
        self.log = os.path.join(self.root, "dovecot.log")
        self.port = bench_server.free_port()
        self.tree = None
        for d in (self.run_dir, os.path.join(self.root, "state"), self.mail):
            os.makedirs(d, mode=0o755, exist_ok=True)
        os.chown(self.mail, mail_uid, mail_gid)
        passwd = os.path.join(self.root, "passwd")
        with open(passwd, "w") as f:
            f.write("\n".join(passwd_lines) + "\n")
        os.chmod(passwd, 0o600)
        if os.geteuid() == 0:
            # The auth process runs as Dovecot's internal user.
            os.chown(passwd, pwd.getpwnam("dovecot").pw_uid, -1)
        render("dovecot.conf", self.conf, {
            "RUN_DIR": self.run_dir, "STATE_DIR": os.path.join(self.root, "state"),
            "PORT": self.port, "LOG_FILE": self.log, "CERT": cert, "KEY": key,
            "PASSWD": passwd, "MAIL_UID": mail_uid, "MAIL_GID": mail_gid,
            "MAIL_BASE": self.mail, "MAX_CONNS": MAX_CONNS,
            "CORES": os.cpu_count() or 1})

    def start(self):
        out = open(os.path.join(self.root, "dovecot.out"), "ab")
        self.proc = subprocess.Popen(["dovecot", "-F", "-c", self.conf],
                                     stdout=out, stderr=out)
        out.close()
        self.tree = ProcTree(self.proc.pid)
        if not wait_port(self.port, START_TIMEOUT, lambda: self.proc.poll() is None):
            raise RuntimeError("dovecot did not start:\n" + self.log_tail())
        # The high-performance mode keeps one imap-login per core ready.
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline and len(self.tree.pids()) < 4:
            time.sleep(0.05)

    def stop(self):
        if self.proc is None:
            return 0
        pids = self.tree.pids()
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            for pid in self.tree.pids()[::-1]:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            self.proc.wait()
            rc = None
        if not wait_gone(pids) and rc == 0:
            rc = "processes left after SIGTERM"
        self.proc = None
        self.tree = None
        return rc

    def maildir(self, address):
        local, domain = address.lower().split("@")
        return os.path.join(self.mail, domain, local)

    def log_tail(self, n=2000):
        try:
            with open(self.log, "rb") as f:
                return f.read().decode(errors="replace")[-n:]
        except OSError:
            return ""

    def problems(self):
        return log_problems(self.log, ("Error:", "Fatal:", "Panic:"))

    def version(self):
        r = subprocess.run(["dovecot", "--version"], capture_output=True, text=True,
                           timeout=30)
        return "Dovecot " + r.stdout.split()[0] if r.stdout else "Dovecot ?"


class World:
    """The three servers in one temporary tree, sharing the certificate made
    by `sealpost cert create` (RSA 2048), the passwd lines and the
    messages."""

    def __init__(self, binary, root, workers=2):
        self.root = root
        os.chmod(root, 0o711)        # the servers' users must reach their folders
        try:
            pw = pwd.getpwnam(MAIL_USER)
        except KeyError:
            raise RuntimeError(f"user {MAIL_USER} missing: run scripts/install-deps.sh")
        self.mail_uid, self.mail_gid = pw.pw_uid, pw.pw_gid
        self.sealpost = Sealpost(binary, root, workers, self.mail_uid)
        self.sealpost.set_hash(IMAP_USERS["sha512"],
                               "{SHA512-CRYPT}" + sha512_crypt(PASSWORD))
        lines = self.sealpost.passwd_lines()
        cert, key = self.sealpost.cert, self.sealpost.key
        self.postfix = Postfix(root, cert, key, self.mail_uid, self.mail_gid)
        self.dovecot = Dovecot(root, cert, key, lines, self.mail_uid, self.mail_gid)
        for user in IMAP_USERS.values():
            seed_maildir(self.sealpost.maildir(user), self.mail_uid, self.mail_gid)
            seed_maildir(self.dovecot.maildir(user), self.mail_uid, self.mail_gid)
        self.cafile = cert
        self.password_file = os.path.join(root, "password")
        with open(self.password_file, "w") as f:
            f.write(PASSWORD + "\n")
        os.chmod(self.password_file, 0o600)
        self.expect = []
        for n in range(1, FETCH_MESSAGES + 1):
            path = os.path.join(root, f"expect-{n}")
            with open(path, "wb") as f:
                f.write(message_bytes(n).replace(b"\n", b"\r\n"))
            self.expect.append(path)

    def servers(self):
        return [self.sealpost, self.postfix, self.dovecot]

    def stop_all(self):
        rcs = {}
        for s in self.servers():
            try:
                rcs[s.name] = s.stop()
            except Exception as e:              # noqa: BLE001 - report, go on
                rcs[s.name] = f"stop failed: {e}"
        return rcs


def clear_maildir_new(path):
    """Remove the delivered messages (new/ and cur/) between runs, so every
    run delivers into a Maildir of the same size."""
    for sub in ("new", "cur"):
        for p in glob.glob(os.path.join(path, sub, "*")):
            try:
                os.unlink(p)
            except FileNotFoundError:
                pass


def count_files(path):
    n = 0
    for sub in ("new", "cur"):
        try:
            n += len(os.listdir(os.path.join(path, sub)))
        except FileNotFoundError:
            pass
    return n


def remove_tree(root):
    shutil.rmtree(root, ignore_errors=True)
