"""POP3 (RFC 1939) with STLS and POP3S, against the real server."""
import os
import poplib
import smtplib
import socket
import subprocess
import time

import pytest

from mailserver import PASSWORD, Raw, Server

USER = "alice@example.test"


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    s = Server(tmp_path_factory.mktemp("pop3"),
               services=("smtp", "pop3", "pop3s"),
               users=("alice@example.test", "bob@example.test", "carol@example.test"),
               limits="max_message_size = 67108864")
    yield s
    s.check_clean_exit()


def deliver(srv, body, rcpt=USER):
    with smtplib.SMTP("127.0.0.1", srv.ports["smtp"], timeout=60) as s:
        s.starttls(context=srv.client_context())
        s.sendmail("sender@remote.test", [rcpt], body)


def stored(srv, user=USER):
    """Stored messages (new/ and cur/) by file name order of arrival."""
    out = []
    for sub in ("new", "cur"):
        d = os.path.join(srv.maildir(user), sub)
        for name in os.listdir(d):
            with open(os.path.join(d, name), "rb") as f:
                out.append((os.stat(os.path.join(d, name)).st_mtime_ns, f.read()))
    return [m for _, m in sorted(out)]


def pop_stls(srv, user=USER):
    p = poplib.POP3("127.0.0.1", srv.ports["pop3"], timeout=30)
    p.stls(context=srv.client_context())
    p.user(user)
    p.pass_(PASSWORD)
    return p


def pop_ssl(srv, user=USER):
    p = poplib.POP3_SSL("127.0.0.1", srv.ports["pop3s"], timeout=30,
                        context=srv.client_context())
    p.user(user)
    p.pass_(PASSWORD)
    return p


def retr_bytes(p, n):
    resp, lines, octets = p.retr(n)
    return b"\r\n".join(lines) + b"\r\n", octets, resp


def test_smtp_to_pop3_byte_exact_over_both_ports(srv):
    body = (b"Subject: pop me\r\n\r\n.leading dot\r\n..two\r\n.\r\n"
            b"8-bit caf\xc3\xa9\r\nend\r\n")
    deliver(srv, body, rcpt="bob@example.test")
    want = stored(srv, "bob@example.test")[-1]
    for connect in (pop_stls, pop_ssl):
        p = connect(srv, "bob@example.test")
        count, size = p.stat()
        assert count == 1 and size == len(want)
        got, octets, resp = retr_bytes(p, 1)
        assert got == want
        assert resp == f"+OK {len(want)} octets".encode()
        assert p.list(1) == f"+OK 1 {len(want)}".encode()
        p.quit()
    # reading moved the message from new/ to cur/, as a mail reader would
    assert os.listdir(os.path.join(srv.maildir("bob@example.test"), "new")) == []
    assert len(os.listdir(os.path.join(srv.maildir("bob@example.test"), "cur"))) == 1


def test_capa_and_plaintext_login_refused(srv):
    p = poplib.POP3("127.0.0.1", srv.ports["pop3"], timeout=10)
    caps = p.capa()
    assert "STLS" in caps and "USER" not in caps and "SASL" not in caps
    assert {"TOP", "UIDL", "RESP-CODES", "PIPELINING", "AUTH-RESP-CODE"} <= set(caps)
    for cmd in ("USER alice@example.test", f"PASS {PASSWORD}", "AUTH PLAIN"):
        with pytest.raises(poplib.error_proto) as e:
            p._shortcmd(cmd)
        assert e.value.args[0].startswith(b"-ERR [AUTH] Plaintext authentication disallowed")
    p.stls(context=srv.client_context())
    caps = p.capa()
    assert "STLS" not in caps and "USER" in caps and caps.get("SASL") == ["PLAIN"]
    with pytest.raises(poplib.error_proto):
        p._shortcmd("STLS")
    p.quit()
    assert PASSWORD not in srv.log_text()


def test_auth_plain_and_failures(srv):
    import base64
    c = Raw(srv.ports["pop3s"], tls_ctx=srv.client_context())
    assert c.line().startswith(b"+OK")
    cred = base64.b64encode(f"\0{USER}\0{PASSWORD}".encode()).decode()
    c.send(b"AUTH PLAIN\r\n")
    assert c.line() == b"+ "
    c.send(cred.encode() + b"\r\n")
    assert c.line().startswith(b"+OK Logged in")
    c.send(b"QUIT\r\n")
    assert c.line().startswith(b"+OK")
    c.close()
    p = poplib.POP3_SSL("127.0.0.1", srv.ports["pop3s"], timeout=10,
                        context=srv.client_context())
    p.user(USER)
    with pytest.raises(poplib.error_proto) as e:
        p.pass_("wrong")
    assert e.value.args[0] == b"-ERR [AUTH] Authentication failed"
    p.close()


def test_uidl_stable_across_sessions_and_restart(make_server):
    srv = make_server(services=("smtp", "pop3s"))
    for i in range(3):
        deliver(srv, f"Subject: {i}\r\n\r\nbody {i}\r\n".encode())
    p = pop_ssl(srv)
    first = p.uidl()[1]
    p.quit()
    p = pop_ssl(srv)
    assert p.uidl()[1] == first
    p.quit()
    srv.stop()
    srv.start()
    p = pop_ssl(srv)
    assert p.uidl()[1] == first
    assert len(first) == 3 and len(set(u.split()[1] for u in first)) == 3
    p.quit()


def test_dele_takes_effect_at_quit_only(make_server):
    srv = make_server(services=("smtp", "pop3s"))
    for i in range(3):
        deliver(srv, f"Subject: {i}\r\n\r\nbody {i}\r\n".encode())
    p = pop_ssl(srv)
    p.dele(1)
    assert p.stat()[0] == 2
    with pytest.raises(poplib.error_proto):
        p.retr(1)
    p.rset()
    assert p.stat()[0] == 3
    p.dele(2)
    # connection dropped without QUIT: nothing deleted
    p.close()
    time.sleep(0.5)
    p = pop_ssl(srv)
    assert p.stat()[0] == 3
    p.dele(2)
    p.dele(3)
    assert p.quit().startswith(b"+OK")
    p = pop_ssl(srv)
    assert p.stat()[0] == 1
    assert b"body 0" in retr_bytes(p, 1)[0]
    p.quit()


def test_top_and_out_of_range(srv):
    deliver(srv, b"Subject: top\r\nX-A: 1\r\n\r\nl1\r\n.l2\r\nl3\r\n", rcpt="carol@example.test")
    p = pop_ssl(srv, "carol@example.test")
    resp, lines, _ = p.top(1, 1)
    text = b"\r\n".join(lines)
    assert text.endswith(b"X-A: 1\r\n\r\nl1")
    resp, lines, _ = p.top(1, 0)
    assert lines[-1] == b"" and b"l1" not in lines
    resp, lines, _ = p.top(1, 2)
    assert lines[-2:] == [b"l1", b".l2"]     # un-dot-stuffed by poplib
    for bad in ("RETR 0", "RETR 99", "RETR x", "LIST 99", "TOP 1 -1", "DELE 2"):
        with pytest.raises(poplib.error_proto):
            p._shortcmd(bad)
    p.quit()


def test_second_session_gets_in_use(srv):
    p = pop_ssl(srv)
    q = poplib.POP3_SSL("127.0.0.1", srv.ports["pop3s"], timeout=10,
                        context=srv.client_context())
    q.user(USER)
    with pytest.raises(poplib.error_proto) as e:
        q.pass_(PASSWORD)
    assert e.value.args[0].startswith(b"-ERR [IN-USE]")
    q.close()
    p.quit()
    q = pop_ssl(srv)
    q.quit()


def test_mail_delivered_during_a_session_does_not_disturb_it(srv):
    p = pop_ssl(srv)
    count, size = p.stat()
    listing = p.list()[1]
    deliver(srv, b"Subject: later\r\n\r\nnew\r\n")
    assert p.stat() == (count, size)
    assert p.list()[1] == listing
    p.quit()
    p = pop_ssl(srv)
    assert p.stat()[0] == count + 1
    p.quit()


def test_stls_pipelined_command_is_never_answered(srv):
    c = Raw(srv.ports["pop3"])
    assert c.line().startswith(b"+OK")
    c.send(b"STLS\r\nUSER alice@example.test\r\n")
    assert c.line() == b"+OK Begin TLS negotiation"
    assert c.buf == b""
    c.starttls(srv.client_context())
    c.send(b"NOOP\r\n")       # not logged in: no USER was carried over
    assert c.line() == b"-ERR Command not valid in this state"
    c.send(b"PASS " + PASSWORD.encode() + b"\r\n")
    assert c.line() == b"-ERR USER first"
    c.close()


@pytest.mark.parametrize("tls", [False, True])
def test_bad_input(srv, tls):
    c = Raw(srv.ports["pop3s" if tls else "pop3"],
            tls_ctx=srv.client_context() if tls else None)
    c.line()
    for junk, reply in [(b"USER " + b"x" * 300 + b"\r\n", b"-ERR Line too long"),
                        (b"X" * 20000 + b"\r\n", b"-ERR Line too long"),
                        (b"BOGUS\r\n", b"-ERR Unknown command"),
                        (b"CAPA\n", b"-ERR Bare LF received; lines end with CRLF"),
                        (b"STAT\r\n", b"-ERR Command not valid in this state"),
                        (b"NO\0OP\r\n", b"-ERR NUL character in command")]:
        c.send(junk)
        assert c.line() == reply
    c.send(b"QUIT\r\n")
    assert c.line().startswith(b"+OK")
    c.close()


def test_curl_pop3s_and_openssl_starttls(srv):
    deliver(srv, b"Subject: curl\r\n\r\nfor curl\r\n", rcpt="carol@example.test")
    netrc = os.path.join(srv.root, "netrc")
    with open(netrc, "w") as f:
        f.write(f'machine localhost login carol@example.test password "{PASSWORD}"\n')
    r = subprocess.run(["curl", "-sS", "--netrc-file", netrc, "--cacert",
                        os.path.join(srv.certs, "mail.crt"),
                        f"pop3s://localhost:{srv.ports['pop3s']}/1"],
                       capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert r.stdout == stored(srv, "carol@example.test")[0]
    r = subprocess.run(["openssl", "s_client", "-connect",
                        f"127.0.0.1:{srv.ports['pop3']}", "-starttls", "pop3",
                        "-CAfile", os.path.join(srv.certs, "mail.crt"),
                        "-verify_return_error", "-quiet", "-ign_eof"],
                       input="CAPA\r\nQUIT\r\n", capture_output=True, text=True, timeout=30)
    assert "SASL PLAIN" in r.stdout and "STLS" not in r.stdout
    assert "+OK Logging out" in r.stdout


def test_fetchmail_over_stls(make_server, tmp_path):
    srv = make_server(services=("smtp", "pop3"))
    bodies = [f"Subject: fm{i}\r\n\r\nfetch me {i}\r\n".encode() for i in range(3)]
    for b in bodies:
        deliver(srv, b)
    mbox = tmp_path / "out.mbox"
    rc = tmp_path / "fetchmailrc"
    rc.write_text(
        "set no bouncemail\n"
        f"poll localhost with proto POP3 port {srv.ports['pop3']} timeout 30\n"
        f'  user "{USER}" there with password "{PASSWORD}" is "root" here\n'
        f'  sslproto "TLS1.2+" sslcertck sslcertfile "{srv.certs}/mail.crt"\n'
        f'  mda "/bin/sh -c \'cat >> {mbox}\'"\n  fetchall\n')
    rc.chmod(0o600)
    r = subprocess.run(["fetchmail", "--fetchmailrc", str(rc), "--nodetach", "-N",
                        "--pidfile", str(tmp_path / "fm.pid"), "-v"],
                       capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, HOME=str(tmp_path)))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "STLS" in r.stdout + r.stderr
    got = mbox.read_bytes()
    for i in range(3):
        assert f"fetch me {i}".encode() in got
    assert stored(srv) == []       # fetched and deleted by a completed QUIT


def test_large_message_streamed_and_stalled_reader(tmp_path):
    """A 40 MB RETR to a client that does not read does not grow the
    server's memory (measured on the release build: ASan's quarantine would
    hide the answer)."""
    from mailserver import RELEASE_BIN
    srv = Server(tmp_path, services=("smtp", "pop3s"), users=("bob@example.test",),
                 limits="max_message_size = 67108864", binary=RELEASE_BIN)
    line = b"x" * 998 + b"\r\n"
    body = b"Subject: big\r\n\r\n" + line * (40 * 1024 * 1024 // len(line))
    deliver(srv, body, rcpt="bob@example.test")

    def worker_rss():
        pids = subprocess.run(["pgrep", "-P", str(srv.proc.pid)], capture_output=True,
                              text=True).stdout.split()
        total = 0
        for pid in pids:
            with open(f"/proc/{pid}/status") as f:
                total += int([l for l in f if l.startswith("VmRSS:")][0].split()[1])
        return total

    base = worker_rss()
    c = Raw(srv.ports["pop3s"], tls_ctx=srv.client_context())
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    c.line()
    c.send(f"USER bob@example.test\r\nPASS {PASSWORD}\r\n".encode())
    c.line(), c.line()
    c.send(b"STAT\r\n")
    count = int(c.line().split()[1])
    c.send(f"RETR {count}\r\n".encode())
    time.sleep(2)                 # we do not read
    grown = worker_rss() - base
    assert grown < 8 * 1024, f"workers grew by {grown} KiB"
    # now read it all: byte-exact
    header = c.line()
    assert header.startswith(b"+OK")
    data = bytearray(c.buf)
    c.sock.settimeout(60)
    while not data.endswith(b"\r\n.\r\n"):
        chunk = c.sock.recv(1 << 20)
        assert chunk
        data += chunk
    c.send(b"QUIT\r\n")
    c.close()
    want = stored(srv, "bob@example.test")[-1]
    assert data[:-3] == want     # no line starts with '.', so no stuffing
    srv.check_clean_exit()
