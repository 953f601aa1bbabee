"""Postfix's smtpd as the remote MX: sealpost delivers over STARTTLS with
the verify level (Postfix serves a test-CA certificate for its MX name),
and Postfix's refusal of an unknown user comes back as a DSN. Postfix runs
as `postfix -c <folder> start` with its own queue, on an address of
127.0.0.0/8; nothing in /etc is used."""
import contextlib
import os
import pwd
import re
import shutil
import subprocess
import tempfile
import time

import pytest

from dnsworld import DnsWorld, Zone
from mailserver import Server
from outbound_world import Pki, free_port_on, wait_for
from test_outbound import dsns, queue_empty, submit

MX = "127.0.0.91"

MAIN_CF = """compatibility_level = 3.6
config_directory = {root}/conf
queue_directory = {root}/queue
data_directory = {root}/data
meta_directory = /etc/postfix
mail_owner = postfix
setgid_group = postdrop
maillog_file = {root}/postfix.log
maillog_file_prefixes = {root}
myhostname = mx-postfix.example
mydestination =
# Postfix wants inet_interfaces configured on an interface, which
# 127.0.0.91 is not (all of 127/8 is local): master.cf names the address.
inet_interfaces = all
inet_protocols = ipv4
mynetworks = 127.0.0.1/32
alias_maps =
alias_database =
local_recipient_maps =
relay_domains =
virtual_mailbox_domains = postfix.example
virtual_mailbox_base = {root}/mail
virtual_mailbox_maps = texthash:{root}/conf/vmailbox
virtual_uid_maps = static:{uid}
virtual_gid_maps = static:{gid}
virtual_minimum_uid = {uid}
smtpd_tls_cert_file = {crt}
smtpd_tls_key_file = {key}
smtpd_tls_security_level = may
smtpd_tls_received_header = yes
"""

MASTER_CF = """{mx}:{port} inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
virtual   unix  -       n       n       -       -       virtual
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


class Postfix:
    def __init__(self, root, port, crt, key, stack):
        self.root = str(root)
        pw = pwd.getpwnam("sealpost")
        for d in ("conf", "queue", "data", "mail"):
            os.makedirs(os.path.join(self.root, d), mode=0o755)
        os.chmod(self.root, 0o755)
        os.chown(os.path.join(self.root, "data"), pwd.getpwnam("postfix").pw_uid, -1)
        os.chown(os.path.join(self.root, "mail"), pw.pw_uid, pw.pw_gid)
        # key and certificate readable by smtpd (it reads them as root)
        for name, src in (("mx.crt", crt), ("mx.key", key)):
            shutil.copy(src, os.path.join(self.root, "conf", name))
        conf = os.path.join(self.root, "conf")
        with open(os.path.join(conf, "main.cf"), "w") as f:
            f.write(MAIN_CF.format(root=self.root, mx=MX, uid=pw.pw_uid, gid=pw.pw_gid,
                                   crt=f"{conf}/mx.crt", key=f"{conf}/mx.key"))
        with open(os.path.join(conf, "master.cf"), "w") as f:
            f.write(MASTER_CF.format(mx=MX, port=port))
        with open(os.path.join(conf, "vmailbox"), "w") as f:
            f.write("zed@postfix.example postfix.example/zed/\n")
        self.conf = conf
        stack.callback(self.stop)      # also after a start that failed half-way
        r = self._postfix("start")
        assert r.returncode == 0, r.stderr + r.stdout + self.log() + self._postfix("check").stderr
        wait_for(lambda: subprocess.run(["bash", "-c", f"exec 3<>/dev/tcp/{MX}/{port}"],
                                        capture_output=True).returncode == 0,
                 timeout=30, what="postfix listening")

    def _postfix(self, *args):
        return subprocess.run(["postfix", "-c", self.conf, *args], capture_output=True,
                              text=True, timeout=60)

    def log(self):
        try:
            with open(os.path.join(self.root, "postfix.log")) as f:
                return f.read()
        except OSError:
            return ""

    def messages(self):
        new = os.path.join(self.root, "mail", "postfix.example", "zed", "new")
        if not os.path.isdir(new):
            return []
        out = []
        for name in sorted(os.listdir(new)):
            with open(os.path.join(new, name), "rb") as f:
                out.append(f.read())
        return out

    def stop(self):
        # Postfix's master leaves its pid file behind (it is a lock, not a
        # sign of life): wait for the process itself.
        pid_file = os.path.join(self.root, "queue", "pid", "master.pid")
        try:
            with open(pid_file) as f:
                pid = int(f.read().strip() or 0)
        except (OSError, ValueError):
            pid = 0
        self._postfix("stop")
        deadline = time.time() + 30
        while pid > 0 and os.path.exists(f"/proc/{pid}") and time.time() < deadline:
            time.sleep(0.1)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    if os.geteuid() != 0 or shutil.which("postfix") is None:
        pytest.skip("needs root and Debian's postfix (scripts/install-deps.sh)")
    root = tmp_path_factory.mktemp("postfixmx")
    pki = Pki(root / "pki")
    crt, key = pki.issue("mx", "mx-postfix.example")
    port = free_port_on([MX])
    with contextlib.ExitStack() as stack:      # stopped even if a start fails
        dns = DnsWorld(root / "dns", [Zone("example.", signed=True, records=f"""
            postfix     MX 10 mx-postfix
            mx-postfix  A  {MX}
        """)])
        stack.callback(dns.stop)
        # Postfix's daemons run as postfix: its folders must be reachable,
        # and pytest's are 0700.
        pf_root = tempfile.mkdtemp(prefix="sealpost-postfix-mx-")
        stack.callback(shutil.rmtree, pf_root, ignore_errors=True)
        os.chmod(pf_root, 0o755)
        pf = Postfix(os.path.join(pf_root, "pf"), port, crt, key, stack)
        srv = Server(root / "srv", services=("smtp", "submission"),
                     users=("alice@example.test",),
                     extra=dns.outbound_conf() +
                     f"port = {port}\nca_file = {pki.ca}\nretry_min = 1h\n"
                     "[tls_policy]\npostfix.example = verify\n")
        yield srv, pf, port
        srv.check_clean_exit()


def test_delivered_to_postfix_verified(world):
    srv, pf, port = world
    sent = submit(srv, ["zed@postfix.example"], "to postfix")
    wait_for(lambda: pf.messages(), timeout=30, what="delivery into Postfix's mailbox")
    got = pf.messages()[0]
    # Postfix stores LF line ends (and adds the Date: the message lacks).
    for line in sent.split(b"\r\n\r\n")[0].split(b"\r\n"):
        assert b"\n" + line + b"\n" in got
    assert got.endswith(b"\n\nhello\n")
    assert b"\tby mail.example.test (sealpost) with ESMTPSA id " in got
    # Postfix's Received line names the TLS sealpost used.
    assert re.search(rb"\(using TLSv1\.3 with cipher \S+", got), got[:800]
    log = srv.wait_log_re(r"smtpc delivered queue_id=\S+ to=<zed@postfix\.example> ")
    assert re.search(r"smtpc delivered queue_id=\S+ to=<zed@postfix\.example> "
                     rf"relay=mx-postfix\.example\[{MX}\]:{port} "
                     r"tls=TLSv1\.3/\S+/verified auth=verified", log), log
    wait_for(lambda: queue_empty(srv), what="empty queue")


def test_postfix_refusal_bounces(world):
    srv, pf, port = world
    before = len(dsns(srv))
    submit(srv, ["nobody@postfix.example"], "to nobody at postfix")
    wait_for(lambda: len(dsns(srv)) > before, timeout=30, what="the DSN")
    text = dsns(srv)[-1].decode()
    assert "Final-Recipient: rfc822; nobody@postfix.example" in text
    assert "Status: 5.1.1" in text
    assert re.search(r"Diagnostic-Code: smtp; 550 5\.1\.1 <nobody@postfix\.example>: "
                     r"Recipient address rejected: User unknown in virtual mailbox table",
                     text), text
