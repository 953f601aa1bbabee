"""A DNS world of the test's own on loopback: zones served by nsd, signed
with ldns-signzone where asked, behind a small front that can also fail.

    world = DnsWorld(tmp_path / "dns", [
        Zone("example.", signed=True, records='''
            @            MX   10 mx1
            mx1          A    127.0.0.11
            _25._tcp.mx1 TLSA 3 1 1 0123...
        ''', bogus=["mx1 A"]),
        Zone("example.net.", records="@ MX 10 mx\\nmx A 127.0.0.30"),
    ], servfail=["sf.example.net"], drop=["slow.example.net MX"])
    conf = world.outbound_conf()    # "[outbound]\\nresolver = ...\\ntrust_anchor = ..."
    ...
    world.stop()

How it fits together, and why:
- nsd (an unprivileged process with its own config, zones and log under
  the world's folder, no system service touched) is authoritative for every
  zone, on a free loopback port. A signed zone gets a fresh ECDSA P-256 KSK
  and ZSK (ldns-keygen) and is signed with NSEC by ldns-signzone; the DS of
  its KSK goes into the world's trust anchor file, which sealpost is given
  as [outbound] trust_anchor. Names outside every signed zone are therefore
  insecure (no trust anchor covers them), as for an unsigned zone on the
  Internet. A world without signed zones has an empty anchor file.
- sealpost's libunbound uses the world as its forwarder ([outbound]
  resolver). That validates: libunbound asks with the DO bit, nsd answers
  with RRSIGs and NSEC records, and libunbound checks them from the anchor
  (it asks the forwarder for the zone's DNSKEY as for any other record). No
  stub zone is needed.
- Between them a front written with python3-dnslib listens on the address
  sealpost is given (UDP and TCP). It passes every query to nsd byte for
  byte, except the names it is told to fail: `servfail` (answered SERVFAIL)
  and `drop` (never answered: a timeout), answers nsd cannot give. Each
  entry is "name" (every type) or "name TYPE". It records every question
  it sees in `queries`, as ("name", "TYPE"), so a test can tell what was
  asked.
- `bogus` lists records of a signed zone whose RRSIG is corrupted after
  signing ("owner TYPE", owner relative to the zone, "@" for the apex):
  a validating resolver must call the answer bogus.
- `strip_dnssec` makes the front a resolver that passes no DNSSEC: every
  RRSIG is taken out of nsd's answers. With a signed root zone (Zone(".",
  signed=True): the world's anchor then covers the root) sealpost's check
  of its server finds the root's DNSKEY bogus.
- `delay` answers its names (UDP) DELAY_S late, so a test can order
  answers: the others go out meanwhile.
- Names under .test are no use here: libunbound answers NXDOMAIN for them
  itself (RFC 6761 6.2 local zone), without asking anyone; use .example,
  .example.net and the like.
"""
import os
import select
import shutil
import socket
import struct
import subprocess
import textwrap
import threading
import time

from dnslib import DNSRecord, QTYPE, RCODE

from mailserver import free_port

NSD = shutil.which("nsd") or "/usr/sbin/nsd"
START_TIMEOUT = 10.0      # seconds for nsd to answer
UPSTREAM_TIMEOUT = 2.0    # seconds the front waits for nsd
DELAY_S = 0.5             # how late a `delay` name is answered


class Zone:
    """One zone: its records (zone-file lines relative to the origin),
    signed or not, and the records whose signature is to be corrupted."""

    def __init__(self, origin, records="", signed=False, bogus=()):
        if not origin.endswith("."):
            origin += "."
        self.origin = origin.lower()
        self.records = textwrap.dedent(records).strip()
        self.signed = signed
        self.bogus = [b.split() for b in bogus]
        if self.bogus and not signed:
            raise ValueError(f"{origin}: bogus records need a signed zone")

    def text(self):
        o = self.origin
        ns, hm = self.absolute("ns"), self.absolute("hostmaster")
        return (f"$ORIGIN {o}\n$TTL 300\n"
                f"@ SOA {ns} {hm} 1 3600 600 86400 300\n"
                f"@ NS {ns}\nns A 127.0.0.1\n{self.records}\n")

    def absolute(self, owner):
        if owner == "@":
            return self.origin
        if owner.endswith("."):
            return owner
        # The root zone (".") too: "mx" is "mx.", not "mx..".
        return f"{owner}.{self.origin}".replace("..", ".")


def _free_port():
    """A port free for both UDP and TCP on 127.0.0.1."""
    return free_port(udp=True)


def _corrupt(signed_text, zone):
    """Flip one character in the middle of the signature of each RRSIG that
    covers a record of zone.bogus."""
    targets = {(zone.absolute(owner).lower(), rtype.upper())
               for owner, rtype in zone.bogus}
    done = set()
    out = []
    for line in signed_text.splitlines():
        f = line.split()
        if len(f) > 12 and f[3] == "RRSIG" and (f[0].lower(), f[4]) in targets:
            sig = f[-1]
            i = len(sig) // 2
            f[-1] = sig[:i] + ("B" if sig[i] == "A" else "A") + sig[i + 1:]
            line = "\t".join(f)
            done.add((f[0].lower(), f[4]))
        out.append(line)
    missing = targets - done
    if missing:
        raise ValueError(f"{zone.origin}: no RRSIG to corrupt for {sorted(missing)}")
    return "\n".join(out) + "\n"


class DnsWorld:
    def __init__(self, root, zones, servfail=(), drop=(), strip_dnssec=False,
                 delay=()):
        self.root = str(root)
        self.strip_dnssec = strip_dnssec
        self.delay = self._rules(delay)
        os.makedirs(self.root, exist_ok=True)
        self.zones = list(zones)
        self.servfail = self._rules(servfail)
        self.drop = self._rules(drop)
        self.queries = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = []
        self.nsd = None
        self.trust_anchor = os.path.join(self.root, "anchors.ds")
        self._write_zones()
        try:
            self._start_nsd()
            self._start_front()
        except BaseException:
            self.stop()
            raise

    @staticmethod
    def _rules(entries):
        rules = set()
        for e in entries:
            parts = e.split()
            name = parts[0].rstrip(".").lower()
            rules.add((name, parts[1].upper() if len(parts) > 1 else None))
        return rules

    # ---- zones and keys --------------------------------------------------

    def _run(self, argv, cwd):
        proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True,
                              timeout=60)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)}: {proc.stderr.strip()}")
        return proc.stdout.strip()

    def _sign(self, zone, zdir, path):
        ksk = self._run(["ldns-keygen", "-a", "ECDSAP256SHA256", "-k",
                         zone.origin], zdir)
        zsk = self._run(["ldns-keygen", "-a", "ECDSAP256SHA256", zone.origin],
                        zdir)
        self._run(["ldns-signzone", "-f", path + ".signed", path, ksk, zsk], zdir)
        with open(path + ".signed") as f:
            text = f.read()
        if zone.bogus:
            with open(path + ".signed", "w") as f:
                f.write(_corrupt(text, zone))
        with open(os.path.join(zdir, ksk + ".ds")) as f:
            return path + ".signed", f.read()

    def _write_zones(self):
        anchors = []
        self.zone_files = {}
        for i, zone in enumerate(self.zones):
            zdir = os.path.join(self.root, f"zone{i}")
            os.makedirs(zdir, exist_ok=True)
            path = os.path.join(zdir, "zone")
            with open(path, "w") as f:
                f.write(zone.text())
            if zone.signed:
                path, ds = self._sign(zone, zdir, path)
                anchors.append(ds)
            self.zone_files[zone.origin] = path
        with open(self.trust_anchor, "w") as f:
            f.write("".join(anchors))

    # ---- nsd -------------------------------------------------------------

    def _nsd_conf(self):
        r = self.root
        lines = ["server:",
                 "  ip-address: 127.0.0.1",
                 f"  port: {self.nsd_port}",
                 '  username: ""',
                 '  chroot: ""',
                 f'  zonesdir: "{r}"',
                 '  database: ""',
                 f'  zonelistfile: "{r}/nsd.zonelist"',
                 f'  xfrdfile: "{r}/nsd.xfrd"',
                 f'  xfrdir: "{r}"',
                 f'  pidfile: "{r}/nsd.pid"',
                 f'  logfile: "{r}/nsd.log"',
                 "  server-count: 1",
                 "  do-ip6: no",
                 "  verbosity: 1",
                 "remote-control:",
                 "  control-enable: no"]
        for origin, path in self.zone_files.items():
            lines += ["zone:", f"  name: {origin}", f"  zonefile: {path}"]
        return "\n".join(lines) + "\n"

    def _start_nsd(self):
        self.nsd_port = _free_port()
        conf = os.path.join(self.root, "nsd.conf")
        with open(conf, "w") as f:
            f.write(self._nsd_conf())
        self._nsd_out = open(os.path.join(self.root, "nsd.out"), "w")
        self.nsd = subprocess.Popen([NSD, "-d", "-c", conf],
                                    stdout=self._nsd_out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL)
        probe = DNSRecord.question(self.zones[0].origin if self.zones else ".",
                                   "SOA").pack()
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.nsd.poll() is not None:
                break
            if self._ask_nsd_udp(probe, timeout=0.2) is not None:
                return
        raise RuntimeError(f"nsd did not start: {self.log()}")

    def log(self):
        text = ""
        for name in ("nsd.out", "nsd.log"):
            path = os.path.join(self.root, name)
            if os.path.exists(path):
                with open(path) as f:
                    text += f.read()
        return text

    def _ask_nsd_udp(self, packet, timeout=UPSTREAM_TIMEOUT):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(timeout)
            try:
                s.sendto(packet, ("127.0.0.1", self.nsd_port))
                return s.recv(65535)
            except OSError:
                return None

    def _ask_nsd_tcp(self, packet):
        try:
            with socket.create_connection(("127.0.0.1", self.nsd_port),
                                          timeout=UPSTREAM_TIMEOUT) as s:
                s.sendall(struct.pack("!H", len(packet)) + packet)
                return _read_tcp_msg(s)
        except OSError:
            return None

    # ---- the front -------------------------------------------------------

    def _start_front(self):
        self.port = _free_port()
        self.address = f"127.0.0.1:{self.port}"
        self._udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._udp.bind(("127.0.0.1", self.port))
        self._tcp = socket.socket()
        self._tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._tcp.bind(("127.0.0.1", self.port))
        self._tcp.listen(16)
        for target in (self._serve_udp, self._serve_tcp):
            t = threading.Thread(target=target, daemon=True)
            t.start()
            self._threads.append(t)

    def _decide(self, packet):
        """("relay" | "servfail" | "drop", parsed request or None)."""
        try:
            req = DNSRecord.parse(packet)
        except Exception:
            return "relay", None
        if not req.questions:
            return "relay", req
        q = req.questions[0]
        name = str(q.qname).rstrip(".").lower()
        qtype = QTYPE.get(q.qtype)
        with self._lock:
            self.queries.append((name, str(qtype)))
        for rules, action in ((self.servfail, "servfail"), (self.drop, "drop")):
            if (name, None) in rules or (name, str(qtype)) in rules:
                return action, req
        return "relay", req

    def _answer(self, packet, tcp):
        action, req = self._decide(packet)
        if action == "drop":
            return None
        if action == "servfail":
            reply = req.reply()
            reply.header.rcode = RCODE.SERVFAIL
            return reply.pack()
        reply = self._ask_nsd_tcp(packet) if tcp else self._ask_nsd_udp(packet)
        if reply is not None and self.strip_dnssec:
            reply = _strip_rrsigs(reply)
        return reply

    def _serve_udp(self):
        while not self._stop.is_set():
            ready, _, _ = select.select([self._udp], [], [], 0.2)
            if not ready:
                continue
            try:
                packet, peer = self._udp.recvfrom(65535)
            except OSError:
                return
            reply = self._answer(packet, tcp=False)
            if reply is None:
                continue
            if self._delayed(packet):
                t = threading.Timer(DELAY_S, self._send_late, (reply, peer))
                t.daemon = True
                t.start()
            else:
                self._udp.sendto(reply, peer)

    def _delayed(self, packet):
        try:
            q = DNSRecord.parse(packet).questions[0]
        except Exception:
            return False
        name = str(q.qname).rstrip(".").lower()
        return (name, None) in self.delay or (name, str(QTYPE.get(q.qtype))) in self.delay

    def _send_late(self, reply, peer):
        try:
            self._udp.sendto(reply, peer)
        except OSError:
            pass

    def _serve_tcp(self):
        while not self._stop.is_set():
            ready, _, _ = select.select([self._tcp], [], [], 0.2)
            if not ready:
                continue
            try:
                conn, _ = self._tcp.accept()
            except OSError:
                return
            t = threading.Thread(target=self._serve_tcp_conn, args=(conn,),
                                 daemon=True)
            t.start()

    def _serve_tcp_conn(self, conn):
        with conn:
            conn.settimeout(5)
            while not self._stop.is_set():
                try:
                    packet = _read_tcp_msg(conn)
                except OSError:
                    return
                if packet is None:
                    return
                reply = self._answer(packet, tcp=True)
                if reply is None:
                    continue
                try:
                    conn.sendall(struct.pack("!H", len(reply)) + reply)
                except OSError:
                    return

    # ---- for tests -------------------------------------------------------

    def outbound_conf(self):
        """The [outbound] section that points sealpost at this world."""
        return (f"[outbound]\nresolver = {self.address}\n"
                f"trust_anchor = {self.trust_anchor}\n")

    def asked(self, name, qtype=None):
        """Questions the front saw for name (and qtype)."""
        name = name.rstrip(".").lower()
        with self._lock:
            return [q for q in self.queries
                    if q[0] == name and (qtype is None or q[1] == qtype)]

    def stop(self):
        self._stop.set()
        for sock in (getattr(self, "_udp", None), getattr(self, "_tcp", None)):
            if sock is not None:
                sock.close()
        for t in self._threads:
            t.join(timeout=2)
        if self.nsd is not None and self.nsd.poll() is None:
            self.nsd.terminate()
            try:
                self.nsd.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.nsd.kill()
                self.nsd.wait()
        if getattr(self, "_nsd_out", None) is not None:
            self._nsd_out.close()


def _strip_rrsigs(packet):
    """The answer without its RRSIG records, as an old or misconfigured
    resolver passes it on."""
    msg = DNSRecord.parse(packet)
    for section in ("rr", "auth", "ar"):
        setattr(msg, section, [r for r in getattr(msg, section)
                               if r.rtype != QTYPE.RRSIG])
    msg.set_header_qa()
    return msg.pack()


def _read_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def _read_tcp_msg(sock):
    """One length-prefixed DNS message over TCP (RFC 1035 4.2.2)."""
    head = _read_exact(sock, 2)
    if head is None:
        return None
    return _read_exact(sock, struct.unpack("!H", head)[0])
