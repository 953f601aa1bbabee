"""Deadlines a drip-feeding client cannot push back: a command line must be
whole within the protocol's timeout, a connection must log in (port 25: send
MAIL) within login_timeout, and DATA / APPEND must keep a minimum rate. A
slow but honest client still gets through.

The limits are set small here so the suite stays fast; the assertions give
the server a wide window (the machine is shared and loaded), never an exact
time: closed neither too early nor much too late."""
import os
import socket
import ssl
import threading
import time

from mailserver import PASSWORD, Raw, strip_trace

USER = "alice@example.test"
ALL = ("smtp", "submission", "pop3", "pop3s", "imap", "imaps")
# How long past its deadline a close may come on a loaded machine.
LATE = 12


def connect(srv, service):
    tls = srv.client_context() if service in ("smtps", "pop3s", "imaps") else None
    return Raw(srv.ports[service], tls_ctx=tls, timeout=30)


def login_pop3(srv, user=USER):
    """(One POP3 session per mailbox: parallel ones need their own user.)"""
    c = connect(srv, "pop3s")
    assert c.line().startswith(b"+OK")
    c.send(f"USER {user}\r\n".encode())
    assert c.line().startswith(b"+OK")
    c.send(f"PASS {PASSWORD}\r\n".encode())
    assert c.line().startswith(b"+OK")
    return c


def login_imap(srv):
    c = connect(srv, "imaps")
    assert c.line().startswith(b"* OK")
    c.send(f'a LOGIN {USER} "{PASSWORD}"\r\n'.encode())
    while not c.line().startswith(b"a OK"):
        pass
    return c


def drip(c, data, interval, limit):
    """Send data one byte per interval until the server closes; returns
    (everything received, seconds from the first byte to the close)."""
    c.sock.setblocking(True)
    got, i, start = c.buf, 0, time.monotonic()
    c.buf = b""
    while time.monotonic() - start < limit:
        if i < len(data) and time.monotonic() >= start + i * interval:
            try:
                c.sock.sendall(data[i:i + 1])
            except OSError:
                break
            i += 1
        wait = start + i * interval - time.monotonic()
        c.sock.settimeout(max(0.05, min(wait, 0.5)))
        try:
            chunk = c.sock.recv(65536)
        except (socket.timeout, ssl.SSLWantReadError):
            continue
        except (ConnectionResetError, BrokenPipeError, ssl.SSLError):
            break
        if not chunk:
            break
        got += chunk
    else:
        raise AssertionError(f"still open after {limit}s; received {got!r}")
    return got, time.monotonic() - start


def keep_busy(c, command, ok_prefix, seconds):
    """Send whole commands once a second for seconds; each must be
    answered (the session stays open)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        c.send(command)
        line = c.line()
        while not line.startswith(ok_prefix):
            line = c.line()
        time.sleep(1)


def run_all(checks):
    """Run the checks in parallel threads; re-raise the first failure."""
    errors = []

    def wrap(f):
        try:
            f()
        except BaseException as e:      # noqa: BLE001 - reported below
            errors.append(e)
    threads = [threading.Thread(target=wrap, args=(f,)) for f in checks]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    if errors:
        raise errors[0]


def assert_closed_after(seconds, deadline, what):
    assert deadline - 1 <= seconds <= deadline + LATE, \
        f"{what}: closed after {seconds:.1f}s, deadline {deadline}s"


# ---- a command line must be whole within the timeout ---------------------

def test_drip_fed_command_lines_are_cut_at_the_timeout(make_server):
    """1 byte/s, and a byte just before each idle timeout, against SMTP,
    POP3 and IMAP: the idle timeout alone would never fire."""
    srv = make_server(services=("smtp", "pop3s", "imaps"),
                      users=(USER, "bob@example.test"), limits=(
        "smtp_timeout = 5\npop3_timeout = 5\nimap_timeout = 5\n"
        "login_timeout = 120"))
    long_ehlo = b"EHLO " + b"x" * 200 + b".test\r\n"

    def smtp(interval):
        def check():
            c = connect(srv, "smtp")
            assert c.reply()[0].startswith(b"220")
            got, secs = drip(c, long_ehlo, interval, 5 + LATE + 5)
            assert b"421 4.4.2 mail.example.test Error: timeout exceeded" in got
            assert_closed_after(secs, 5, f"smtp every {interval}s")
        return check

    def pop3(interval, user):
        def check():
            c = login_pop3(srv, user)
            got, secs = drip(c, b"UIDL " + b"1" * 200 + b"\r\n", interval,
                             5 + LATE + 5)
            assert b"-ERR Disconnected for inactivity" in got
            assert_closed_after(secs, 5, f"pop3 every {interval}s")
        return check

    def imap(interval):
        def check():
            c = login_imap(srv)
            got, secs = drip(c, b"b NOOP" + b" " * 200 + b"\r\n", interval,
                             5 + LATE + 5)
            assert b"* BYE Disconnected for inactivity" in got
            assert_closed_after(secs, 5, f"imap every {interval}s")
        return check

    run_all([smtp(1), smtp(4), pop3(1, USER), pop3(4, "bob@example.test"),
             imap(1), imap(4)])
    log = srv.log_text()
    assert log.count("timeout what=line after=5s") == 6, log[-3000:]


def test_overlong_line_dripped_is_cut_too(make_server):
    """The rest of a refused overlong line is skipped, never waited for."""
    srv = make_server(services=("smtp",), limits="smtp_timeout = 5")
    c = connect(srv, "smtp")
    c.reply()
    c.send(b"NOOP " + b"x" * 600)
    assert c.reply()[0].startswith(b"500")
    got, secs = drip(c, b"y" * 100, 1, 5 + LATE + 5)
    assert b"421 4.4.2" in got
    assert secs <= 5 + LATE


def test_lines_that_arrive_in_time_are_served(make_server):
    """Whole lines, each within the timeout, keep a session for longer than
    the timeout; a pipelined batch split anywhere is fine."""
    srv = make_server(services=("smtp",), limits="smtp_timeout = 5")
    c = connect(srv, "smtp")
    c.reply()
    c.cmd("EHLO x.test")
    end = time.monotonic() + 9
    while time.monotonic() < end:
        c.send(b"NO")
        time.sleep(0.5)
        c.send(b"OP\r\nNOOP\r\nNO")
        time.sleep(0.5)
        c.send(b"OP\r\n")
        for _ in range(3):
            assert c.reply()[0].startswith(b"250")
    assert c.cmd("QUIT")[0].startswith(b"221")


# ---- log in (or send MAIL) in time ------------------------------------------

def test_login_deadline(make_server):
    """Busy but never logging in (or, on port 25, never sending MAIL): closed
    at login_timeout with the protocol's answer; logged-in sessions stay."""
    srv = make_server(services=ALL, limits="login_timeout = 5")

    def never(service, greeting, command, answer, bye):
        def check():
            c = connect(srv, service)
            assert c.line().startswith(greeting)
            start = time.monotonic()
            got = b""
            while time.monotonic() - start < 5 + LATE + 5:
                try:
                    c.send(command)
                    c.sock.settimeout(1)
                    chunk = c.sock.recv(65536)
                except (socket.timeout, ssl.SSLWantReadError):
                    continue
                except OSError:
                    break
                if not chunk:
                    break
                got += chunk
                time.sleep(1)
            secs = time.monotonic() - start
            assert answer in got
            assert bye in got, got[-300:]
            assert_closed_after(secs, 5, service)
        return check

    def smtp_mail_in_time():
        c = connect(srv, "smtp")
        c.reply()
        c.cmd("EHLO x.test")
        assert c.cmd("MAIL FROM:<a@remote.test>")[0].startswith(b"250")
        keep_busy(c, b"NOOP\r\n", b"250", 9)
        assert c.cmd("QUIT")[0].startswith(b"221")

    def pop3_login_in_time():
        c = login_pop3(srv)
        keep_busy(c, b"NOOP\r\n", b"+OK", 9)

    def imap_login_in_time():
        c = login_imap(srv)
        keep_busy(c, b"n NOOP\r\n", b"n OK", 9)

    run_all([
        never("smtp", b"220", b"NOOP\r\n", b"250 2.0.0 Ok",
              b"421 4.4.2 mail.example.test Error: timeout exceeded before MAIL"),
        never("submission", b"220", b"NOOP\r\n", b"250 2.0.0 Ok",
              b"421 4.4.2 mail.example.test Error: timeout exceeded before "
              b"authentication"),
        never("pop3", b"+OK", b"CAPA\r\n", b"+OK",
              b"-ERR Disconnected: no login in time"),
        never("imap", b"* OK", b"n NOOP\r\n", b"n OK",
              b"* BYE Disconnected: no login in time"),
        smtp_mail_in_time, pop3_login_in_time, imap_login_in_time,
    ])
    assert srv.log_text().count("timeout what=login after=5s") == 4


# ---- DATA and APPEND keep a minimum rate ----------------------------------

RATE_LIMITS = ("data_min_rate = 100\ndata_rate_window = 2\ndata_rate_grace = 1\n"
               "smtp_timeout = 5\nimap_timeout = 5\nlogin_timeout = 5")


def smtp_to_data(srv):
    c = connect(srv, "smtp")
    c.reply()
    c.cmd("EHLO x.test")
    assert c.cmd("MAIL FROM:<a@remote.test>")[0].startswith(b"250")
    assert c.cmd(f"RCPT TO:<{USER}>")[0].startswith(b"250")
    assert c.cmd("DATA")[0].startswith(b"354")
    return c


def send_paced(c, data, rate, chunk=50):
    """Send data at rate bytes/s in chunks (a slow link)."""
    start = time.monotonic()
    for i in range(0, len(data), chunk):
        c.send(data[i:i + chunk])
        pause = start + (i + chunk) / rate - time.monotonic()
        if pause > 0:
            time.sleep(pause)


def test_data_and_append_need_a_minimum_rate(make_server):
    """1 byte/s into DATA and into an APPEND literal: cut after the grace and
    one window, with nothing stored; a client at 4x the minimum, slower
    than every other timeout allows for a whole transfer, succeeds byte for
    byte."""
    srv = make_server(services=("smtp", "imaps"), limits=RATE_LIMITS)
    slow_body = b"Subject: slow link\r\n\r\n" + b"".join(
        b"line %04d of a message on a slow link ...............\r\n" % i
        for i in range(90))                                   # ~5 KB, ~12 s

    def smtp_drip():
        c = smtp_to_data(srv)
        got, secs = drip(c, b"Subject: x\r\n\r\n" + b"y" * 500, 1, 3 + LATE + 5)
        assert b"421 4.4.2 mail.example.test Error: message data arriving too " \
               b"slowly" in got
        assert_closed_after(secs, 3, "smtp data")

    def imap_drip():
        c = login_imap(srv)
        c.send(b"b APPEND INBOX {500}\r\n")
        assert c.line().startswith(b"+")
        got, secs = drip(c, b"y" * 500, 1, 3 + LATE + 5)
        assert b"* BYE Disconnected: literal data arriving too slowly" in got
        assert_closed_after(secs, 3, "imap append")

    def smtp_slow_ok():
        c = smtp_to_data(srv)
        send_paced(c, slow_body + b".\r\n", 400)
        assert c.reply()[0].startswith(b"250 2.0.0 Ok: queued")

    def imap_slow_ok():
        c = login_imap(srv)
        c.send(b"s APPEND INBOX {%d}\r\n" % len(slow_body))
        assert c.line().startswith(b"+")
        send_paced(c, slow_body + b"\r\n", 400)
        assert c.line().startswith(b"s OK [APPENDUID")

    run_all([smtp_drip, imap_drip, smtp_slow_ok, imap_slow_ok])
    assert srv.log_text().count("too slow bytes=") == 2
    time.sleep(0.5)
    stored = [strip_trace(m) for m in
              srv.messages(USER, "new") + srv.messages(USER, "cur")]
    assert sorted(stored) == [slow_body, slow_body]
    assert os.listdir(os.path.join(srv.maildir(USER), "tmp")) == []
    assert os.listdir(os.path.join(srv.data, "spool")) == []
