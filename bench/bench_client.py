"""The client side of the benchmark: SMTP sessions over TLS on asyncio.

One client process drives many sessions. TLS runs over ssl.MemoryBIO on a
plain asyncio stream, so one code path serves STARTTLS and implicit TLS,
and a session can be resumed (--resume) — asyncio's own TLS transport takes
no session to resume.

A client process talks to the parent over a multiprocessing pipe:
  child -> ("ready", info)     sessions set up (idle mode: connections open)
  parent -> ("go", None)       start sending (or, idle mode, close)
  child -> ("done", result)    figures of this process"""
import asyncio
import base64
import multiprocessing
import multiprocessing.connection
import resource
import ssl
import time

READ_CHUNK = 65536
# Connections being set up at once: more would overflow the server's
# listen backlog with SYNs for no gain.
SETUP_CONCURRENCY = 64
# Back off before reconnecting after an error, so a refusing server is not
# hammered in a tight loop.
ERROR_BACKOFF_SECS = 0.2
SENDER_MX = "sender@bench-client.example"


class SmtpReplyError(Exception):
    def __init__(self, stage, code, text):
        super().__init__(f"{stage}: {code} {text}")
        self.stage = stage
        self.code = code


class Stream:
    """A TCP connection with optional TLS (MemoryBIO) and SMTP reply
    reading."""

    def __init__(self, reader, writer):
        self.reader = reader
        self.writer = writer
        self.tls = None
        self.incoming = None
        self.outgoing = None
        self.buf = bytearray()

    @classmethod
    async def connect(cls, host, port):
        reader, writer = await asyncio.open_connection(host, port, limit=READ_CHUNK)
        return cls(reader, writer)

    async def start_tls(self, ctx, hostname, session=None):
        """Client handshake over the connection; returns its duration (s)."""
        t0 = time.perf_counter()
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = ctx.wrap_bio(self.incoming, self.outgoing, server_side=False,
                                server_hostname=hostname, session=session)
        while True:
            try:
                self.tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                await self._flush_tls()
                await self._read_raw_into_bio()
        await self._flush_tls()
        return time.perf_counter() - t0

    async def _read_raw_into_bio(self):
        data = await self.reader.read(READ_CHUNK)
        if not data:
            raise EOFError("server closed the connection")
        self.incoming.write(data)

    async def _flush_tls(self):
        data = self.outgoing.read()
        if data:
            self.writer.write(data)
            await self.writer.drain()

    async def send(self, data):
        if self.tls is None:
            self.writer.write(data)
            await self.writer.drain()
            return
        self.tls.write(data)
        await self._flush_tls()

    async def _fill(self):
        """Read at least one more byte of plaintext into buf."""
        if self.tls is None:
            data = await self.reader.read(READ_CHUNK)
            if not data:
                raise EOFError("server closed the connection")
            self.buf += data
            return
        got = False
        while True:
            try:
                chunk = self.tls.read(READ_CHUNK)
            except ssl.SSLWantReadError:
                if got:
                    return
                await self._flush_tls()
                await self._read_raw_into_bio()
                continue
            except ssl.SSLZeroReturnError:
                chunk = b""
            if not chunk:
                if got:
                    return          # the close_notify came after the reply
                raise EOFError("server closed the TLS session")
            self.buf += chunk
            got = True

    async def reply(self):
        """One SMTP reply: (code, text of its last line)."""
        while True:
            end = self.buf.find(b"\r\n")
            while end < 0:
                await self._fill()
                end = self.buf.find(b"\r\n")
            line = bytes(self.buf[:end])
            del self.buf[:end + 2]
            if line[3:4] != b"-":
                try:
                    code = int(line[:3])
                except ValueError:
                    raise SmtpReplyError("reply", 0, line[:80].decode(errors="replace"))
                return code, line[4:].decode(errors="replace")

    async def expect(self, stage, want):
        code, text = await self.reply()
        if code != want:
            raise SmtpReplyError(stage, code, text)
        return text

    def session(self):
        return self.tls.session if self.tls is not None else None

    def close(self):
        try:
            self.writer.close()
        except Exception:
            pass


def make_body(size):
    """Message body lines of 76 characters, close to size bytes."""
    line = (b"The quick brown fox jumps over the lazy dog; sealpost bench "
            b"payload 0123456789")[:76] + b"\r\n"
    return line * max(1, size // len(line))


class MessageMaker:
    """Messages of exactly `size` bytes (before dot-stuffing, which they
    never need) with a unique Message-ID."""
    PAD_MIN = 16

    def __init__(self, size, sender, rcpt):
        self.size = size
        self.sender = sender
        self.rcpt = rcpt
        probe = self._head("x" * 60, 0)
        room = size - len(probe) - 100
        self.body = make_body(room) if room > 80 else b"bench\r\n"

    def _head(self, msgid, pad):
        pad_line = f"X-Bench-Pad: {'p' * (pad - 15)}\r\n" if pad else ""
        return (f"From: <{self.sender}>\r\nTo: <{self.rcpt}>\r\n"
                f"Subject: sealpost bench\r\nDate: Thu, 1 Jan 2026 00:00:00 +0000\r\n"
                f"Message-ID: <{msgid}>\r\n{pad_line}\r\n").encode()

    def wire(self, msgid):
        """The DATA payload including the terminating <CRLF>.<CRLF>."""
        base = len(self._head(msgid, 0)) + len(self.body)
        pad = self.size - base
        if pad < self.PAD_MIN:
            msg = self._head(msgid, 0) + self.body
        else:
            msg = self._head(msgid, pad) + self.body
        return msg + b".\r\n"


class SessionState:
    __slots__ = ("inflight",)

    def __init__(self):
        self.inflight = None


class ClientRun:
    """The sessions of one client process."""

    def __init__(self, cfg, proc_index, session_ids):
        self.cfg = cfg
        self.proc_index = proc_index
        self.session_ids = session_ids
        self.ctx = ssl.create_default_context(cafile=cfg["cafile"]) \
            if cfg["cafile"] else ssl.create_default_context()
        if cfg["insecure"]:
            self.ctx.check_hostname = False
            self.ctx.verify_mode = ssl.CERT_NONE
        self.sender = cfg["user"] if cfg["mode"] == "implicit" else SENDER_MX
        self.maker = MessageMaker(cfg["size"], self.sender, cfg["rcpt"])
        self.deadline = None
        self.remaining = cfg["count_per_proc"][proc_index] if cfg["count"] else None
        self.acked = []          # Message-IDs answered 250
        self.unknown = []        # failed after the whole message was sent
        self.latencies = []      # seconds, MAIL to the 250 after DATA
        self.handshakes = []     # seconds per TLS handshake
        self.setups = []         # seconds from connect to ready for MAIL
        self.refused = {}        # "stage code" -> count
        self.errors = {}         # error text -> count
        self.resume_sessions = {}
        self.setup_handshakes = []   # before the measured run (session reuse)
        self.resumed = 0             # handshakes that resumed a session

    # ---- bookkeeping --------------------------------------------------------
    def _count(self, table, key):
        table[key] = table.get(key, 0) + 1

    def take_message(self):
        if self.remaining is not None:
            if self.remaining <= 0:
                return False
            self.remaining -= 1
            return True
        return time.monotonic() < self.deadline

    # ---- one session --------------------------------------------------------
    async def open_session(self, slot):
        """Connect, TLS, EHLO (and AUTH on the implicit-TLS port): ready
        for MAIL."""
        cfg = self.cfg
        t0 = time.perf_counter()
        port = cfg["ports"]["smtps" if cfg["mode"] == "implicit" else "smtp"]
        st = await Stream.connect(cfg["host"], port)
        try:
            session = self.resume_sessions.get(slot) if cfg["resume"] else None
            if cfg["mode"] == "implicit":
                self.handshakes.append(await st.start_tls(self.ctx, cfg["tls_name"], session))
                self.resumed += st.tls.session_reused
                await st.expect("greeting", 220)
                await self._ehlo(st)
                if cfg["idle"]:             # idle sessions stop after EHLO
                    self.setups.append(time.perf_counter() - t0)
                    return st
                auth = base64.b64encode(f"\0{cfg['user']}\0{cfg['password']}".encode())
                await st.send(b"AUTH PLAIN " + auth + b"\r\n")
                await st.expect("AUTH", 235)
            else:
                await st.expect("greeting", 220)
                await self._ehlo(st)
                await st.send(b"STARTTLS\r\n")
                await st.expect("STARTTLS", 220)
                self.handshakes.append(await st.start_tls(self.ctx, cfg["tls_name"], session))
                self.resumed += st.tls.session_reused
                await self._ehlo(st)
            if cfg["resume"]:
                self.resume_sessions[slot] = st.session()
        except BaseException:
            st.close()
            raise
        self.setups.append(time.perf_counter() - t0)
        return st

    async def _ehlo(self, st):
        await st.send(b"EHLO bench-client.example\r\n")
        await st.expect("EHLO", 250)

    async def send_message(self, st, msgid, sess):
        """One transaction. sess.inflight names the message while its fate
        is unknown: from the moment its data was sent in full until the
        reply."""
        rcpt = self.cfg["rcpt"]
        t0 = time.perf_counter()
        env = [f"MAIL FROM:<{self.sender}>\r\n".encode(),
               f"RCPT TO:<{rcpt}>\r\n".encode(), b"DATA\r\n"]
        stages = (("MAIL", 250), ("RCPT", 250), ("DATA", 354))
        if self.cfg["pipelining"]:
            await st.send(b"".join(env))
            codes = [await st.reply() for _ in stages]
        else:
            codes = []
            for cmd, (stage, want) in zip(env, stages):
                await st.send(cmd)
                codes.append(await st.reply())
                if codes[-1][0] != want:
                    break
        for (stage, want), (code, _) in zip(stages, codes):
            if code != want:
                self._count(self.refused, f"{stage} {code}")
                if codes[-1][0] == 354:      # pipelined DATA went through
                    await st.send(b".\r\n")
                    await st.reply()
                await st.send(b"RSET\r\n")
                await st.expect("RSET", 250)
                return
        sess.inflight = msgid
        await st.send(self.maker.wire(msgid))
        code, text = await st.reply()
        sess.inflight = None
        if code == 250:
            self.latencies.append(time.perf_counter() - t0)
            self.acked.append(msgid)
        else:
            self._count(self.refused, f"end of data {code}")

    async def _quit(self, st):
        try:
            await st.send(b"QUIT\r\n")
            await st.expect("QUIT", 221)
        finally:
            st.close()

    async def session_loop(self, slot, st):
        seq = 0
        timeout = self.cfg["timeout"]
        sess = SessionState()
        while True:
            sess.inflight = None
            try:
                if st is None:
                    if not self.take_message():
                        return
                    async with asyncio.timeout(timeout):
                        st = await self.open_session(slot)
                    more = True
                else:
                    more = self.take_message()
                while more:
                    seq += 1
                    msgid = f"{self.cfg['run_id']}.{self.proc_index}.{slot}.{seq}@bench"
                    async with asyncio.timeout(timeout):
                        await self.send_message(st, msgid, sess)
                    if self.cfg["reconnect"]:
                        break
                    more = self.take_message()
                async with asyncio.timeout(timeout):
                    await self._quit(st)
                st = None
                if not more:
                    return
            except (OSError, EOFError, ssl.SSLError, SmtpReplyError,
                    TimeoutError) as e:
                what = "stall: no reply within --timeout" \
                    if isinstance(e, TimeoutError) else f"{type(e).__name__}: {e}"
                self._count(self.errors, what[:160])
                if sess.inflight is not None:
                    self.unknown.append(sess.inflight)
                if st is not None:
                    st.close()
                    st = None
                await asyncio.sleep(ERROR_BACKOFF_SECS)

    async def setup(self, count):
        """Open count sessions; returns (streams, failures)."""
        sem = asyncio.Semaphore(SETUP_CONCURRENCY)

        async def one(slot):
            async with sem:
                try:
                    async with asyncio.timeout(self.cfg["timeout"]):
                        return await self.open_session(slot)
                except (OSError, EOFError, ssl.SSLError, SmtpReplyError,
                        TimeoutError) as e:
                    self._count(self.errors, f"setup: {type(e).__name__}: {e}"[:160])
                    return None
        streams = await asyncio.gather(*(one(s) for s in self.session_ids[:count]))
        return streams

    def result(self, cpu, t_start, t_end):
        return {"acked": self.acked, "unknown": self.unknown,
                "latencies": self.latencies, "handshakes": self.handshakes,
                "setups": self.setups,
                "setup_handshakes": self.setup_handshakes,
                "resumed": self.resumed, "refused": self.refused,
                "errors": self.errors, "cpu": cpu, "t_start": t_start,
                "t_end": t_end}


def cpu_now():
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


async def load_main(run, pipe):
    cfg = run.cfg
    if cfg["reconnect"]:
        streams = [None] * len(run.session_ids)
    else:
        streams = await run.setup(len(run.session_ids))
    pipe.send(("ready", {"open": sum(s is not None for s in streams)}))
    pipe.recv()                                    # "go"
    run.setup_handshakes = run.handshakes
    run.handshakes = []
    run.resumed = 0
    run.setups.clear()
    cpu0, t_start = cpu_now(), time.time()
    run.deadline = time.monotonic() + cfg["duration"]
    await asyncio.gather(*(run.session_loop(slot, st) for slot, st in
                           zip(run.session_ids, streams)
                           if st is not None or cfg["reconnect"]))
    t_end = time.time()
    return run.result(cpu_now() - cpu0, t_start, t_end)


async def idle_main(run, pipe):
    cpu0, t_start = cpu_now(), time.time()
    streams = await run.setup(len(run.session_ids))
    t_end = time.time()
    opened = [s for s in streams if s is not None]
    pipe.send(("ready", {"open": len(opened), "seconds": t_end - t_start}))
    pipe.recv()                                    # "go": close them
    for st in opened:
        st.close()
    await asyncio.sleep(0.2)
    return run.result(cpu_now() - cpu0, t_start, t_end)


def client_process(cfg, proc_index, session_ids, pipe):
    """Entry point of a client process."""
    run = ClientRun(cfg, proc_index, session_ids)
    main = idle_main if cfg["idle"] else load_main
    try:
        result = asyncio.run(main(run, pipe))
        pipe.send(("done", result))
    except BaseException as e:          # report, never hang the parent
        pipe.send(("failed", f"{type(e).__name__}: {e}"))
        raise


# ---- the parent's side ------------------------------------------------------

def split(total, parts):
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


class Clients:
    """P client processes sharing n sessions."""

    def __init__(self, cfg, n, procs):
        procs = min(procs, n)
        cfg["count_per_proc"] = split(cfg["count"], procs)
        ctx = multiprocessing.get_context("fork")
        self.pipes, self.procs = [], []
        first = 0
        for i, k in enumerate(split(n, procs)):
            parent, child = ctx.Pipe()
            p = ctx.Process(target=client_process,
                            args=(cfg, i, list(range(first, first + k)), child),
                            daemon=True)
            p.start()
            child.close()
            first += k
            self.pipes.append(parent)
            self.procs.append(p)

    def _recv(self, pipe, want, timeout):
        if not pipe.poll(timeout):
            raise RuntimeError(f"client process: no {want!r} within {timeout:.0f} s")
        kind, data = pipe.recv()
        if kind != want:
            raise RuntimeError(f"client process failed: {data}")
        return data

    def wait_ready(self, timeout):
        return [self._recv(p, "ready", timeout) for p in self.pipes]

    def go(self):
        for p in self.pipes:
            p.send(("go", None))

    def wait_done(self, timeout, tick=None, tick_s=0.5):
        """Results of every process; tick() is called every tick_s seconds
        while waiting."""
        results = [None] * len(self.pipes)
        deadline = time.monotonic() + timeout
        while any(r is None for r in results):
            if time.monotonic() > deadline:
                raise RuntimeError("client processes did not finish in time")
            waiting = [p for p, r in zip(self.pipes, results) if r is None]
            for p in multiprocessing.connection.wait(waiting, tick_s):
                i = self.pipes.index(p)
                try:
                    results[i] = self._recv(p, "done", 0)
                except EOFError:
                    raise RuntimeError("a client process died")
            if tick:
                tick()
        for p in self.procs:
            p.join(10)
        return results
