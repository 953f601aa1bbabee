"""IMAP session basics: greeting, capabilities, STARTTLS, LOGIN and
AUTHENTICATE over TLS only, literals, bad input."""
import base64
import imaplib
import os
import subprocess

import pytest

from mailserver import PASSWORD, Raw, Server

USER = "alice@example.test"


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    s = Server(tmp_path_factory.mktemp("imap"), services=("smtp", "imap", "imaps"),
               users=("alice@example.test", "bob@example.test"))
    yield s
    s.check_clean_exit()


def caps(srv, conn):
    typ, data = conn.capability()
    return set(data[0].decode().split())


def test_plaintext_greeting_and_logindisabled(srv):
    m = imaplib.IMAP4("127.0.0.1", srv.ports["imap"], timeout=10)
    assert m.welcome.startswith(b"* OK [CAPABILITY IMAP4rev1")
    c = caps(srv, m)
    assert {"STARTTLS", "LOGINDISABLED", "IMAP4rev1", "LITERAL+", "SASL-IR", "IDLE",
            "UIDPLUS", "MOVE", "NAMESPACE", "ID", "ENABLE", "SPECIAL-USE",
            "UNSELECT", "CHILDREN"} <= c
    assert not any(x.startswith("AUTH=") for x in c)
    with pytest.raises(imaplib.IMAP4.error) as e:
        m.login(USER, PASSWORD)
    assert "PRIVACYREQUIRED" in str(e.value)
    with pytest.raises(imaplib.IMAP4.error):
        m.authenticate("PLAIN", lambda _: f"\0{USER}\0{PASSWORD}".encode())
    m.starttls(ssl_context=srv.client_context())
    c = caps(srv, m)
    assert "STARTTLS" not in c and "LOGINDISABLED" not in c and "AUTH=PLAIN" in c
    assert m.login(USER, PASSWORD)[0] == "OK"
    assert m.logout()[0] == "BYE"
    assert PASSWORD not in srv.log_text()


def test_imaps_authenticate_plain(srv):
    m = imaplib.IMAP4_SSL("127.0.0.1", srv.ports["imaps"], timeout=10,
                          ssl_context=srv.client_context())
    typ, _ = m.authenticate("PLAIN", lambda _: f"\0{USER}\0{PASSWORD}".encode())
    assert typ == "OK"
    assert "AUTH=PLAIN" not in caps(srv, m)
    typ, data = m.namespace()
    assert data == [b'(("" "/")) NIL NIL']
    typ, data = m.xatom("ID", "NIL")
    assert typ == "OK"
    m.logout()


def test_sasl_ir_cancel_and_wrong_password(srv):
    c = Raw(srv.ports["imaps"], tls_ctx=srv.client_context())
    c.line()
    cred = base64.b64encode(f"\0{USER}\0{PASSWORD}".encode()).decode()
    c.send(b"a1 AUTHENTICATE PLAIN\r\n")
    assert c.line() == b"+ "
    c.send(b"*\r\n")
    assert c.line() == b"a1 BAD Authentication cancelled"
    c.send(f"a2 LOGIN {USER} wrong\r\n".encode())
    assert c.line() == b"a2 NO [AUTHENTICATIONFAILED] Authentication failed"
    c.send(f"a3 AUTHENTICATE PLAIN {cred}\r\n".encode())
    assert c.line().startswith(b"a3 OK [CAPABILITY IMAP4rev1")
    c.send(b"a4 LOGIN x y\r\n")
    assert c.line().startswith(b"a4 BAD")
    c.close()


def test_login_with_literals(srv):
    c = Raw(srv.ports["imaps"], tls_ctx=srv.client_context())
    c.line()
    pw = PASSWORD.encode()
    c.send(b"a1 LOGIN {%d}\r\n" % len(USER))
    assert c.line() == b"+ OK"
    c.send(USER.encode() + b" {%d+}\r\n" % len(pw) + pw + b"\r\n")
    assert c.line().startswith(b"a1 OK")
    c.send(b"a2 LOGOUT\r\n")
    assert c.line() == b"* BYE Logging out"
    assert c.line() == b"a2 OK Logout completed"
    c.close()


def test_starttls_pipelined_command_is_never_answered(srv):
    c = Raw(srv.ports["imap"])
    c.line()
    c.send(b"a1 STARTTLS\r\na2 LOGIN alice@example.test x\r\n")
    assert c.line() == b"a1 OK Begin TLS negotiation now"
    assert c.buf == b""
    c.starttls(srv.client_context())
    c.send(b"a3 NOOP\r\n")
    assert c.line() == b"a3 OK NOOP completed"   # no a2 reply came first
    c.send(b"a4 CAPABILITY\r\n")
    line = c.line()
    assert b"AUTH=PLAIN" in line and b"STARTTLS" not in line
    c.close()


@pytest.mark.parametrize("tls", [False, True])
def test_bad_input(srv, tls):
    c = Raw(srv.ports["imaps" if tls else "imap"],
            tls_ctx=srv.client_context() if tls else None)
    c.line()
    for junk, reply in [
            (b"a1 NOOP " + b"x" * 70000 + b"\r\n", b"a1 BAD Line too long"),
            (b"a2 NOOP\n", b"a2 BAD Bare LF received; lines end with CRLF"),
            (b"a2b NO\0OP\r\n", b"a2b BAD NUL character in command"),
            (b"+bad\n", b"* BAD Bare LF"),
            (b"a3 BOGUS\r\n", b"a3 BAD Unknown command"),
            (b"a4 NAMESPACE\r\n", b"a4 BAD NAMESPACE is not allowed before login"),
            (b'a5 LOGIN "unterminated\r\n', b"a5 BAD"),
            (b"a6 LOGIN {99999999999}\r\n", b"a6 "),
            (b"\r\n", b"* BAD"),
            (b"a7 FETCH 1 (FLAGS\r\n", b"a7 BAD")]:
        c.send(junk)
        line = c.line()
        assert line.startswith(reply), (junk[:40], line)
    c.send(b"a9 NOOP\r\n")
    assert c.line() == b"a9 OK NOOP completed"
    c.close()


def test_openssl_and_curl(srv):
    r = subprocess.run(["openssl", "s_client", "-connect",
                        f"127.0.0.1:{srv.ports['imap']}", "-starttls", "imap",
                        "-CAfile", os.path.join(srv.certs, "mail.crt"),
                        "-verify_return_error", "-quiet", "-ign_eof"],
                       input="a CAPABILITY\r\nb LOGOUT\r\n", capture_output=True,
                       text=True, timeout=30)
    assert "AUTH=PLAIN" in r.stdout and "b OK Logout completed" in r.stdout
