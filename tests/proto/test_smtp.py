"""SMTP receive (RFC 5321) with explicit and implicit TLS, against the real
server: real clients, raw bytes, delivery checked in the Maildir."""
import os
import smtplib
import socket
import ssl
import subprocess
import time
import warnings

import pytest

from mailserver import Raw, strip_trace


@pytest.fixture
def srv(smtp_server):
    return smtp_server


def starttls_raw(srv, port=None):
    c = Raw(port or srv.ports["smtp"])
    assert c.reply()[0].startswith(b"220 mail.example.test ESMTP")
    c.cmd("EHLO client.test")
    assert c.cmd("STARTTLS") == [b"220 2.0.0 Ready to start TLS"]
    c.starttls(srv.client_context())
    c.cmd("EHLO client.test")
    return c


def send_raw_message(srv, body, rcpt="alice@example.test", tls=True,
                     sender="sender@remote.test"):
    """DATA with exactly `body` (which must carry its own end sequence)."""
    c = starttls_raw(srv) if tls else Raw(srv.ports["smtp"])
    if not tls:
        c.reply()
        c.cmd("EHLO client.test")
    assert c.cmd(f"MAIL FROM:<{sender}>")[0].startswith(b"250")
    assert c.cmd(f"RCPT TO:<{rcpt}>")[0].startswith(b"250")
    assert c.cmd("DATA")[0].startswith(b"354")
    c.send(body)
    return c


def new_messages(srv, user, before):
    msgs = srv.messages(user)
    return msgs[len(before):]


# ---- real clients -----------------------------------------------------------

def test_smtplib_starttls_delivers_byte_exact(srv):
    before = srv.messages("alice@example.test")
    body = (b"Subject: hello\r\n\r\n.leading dot\r\n..two dots\r\n.\r\n"
            b"8-bit: caf\xc3\xa9 \xff\xfe\r\nlast line\r\n")
    with smtplib.SMTP("127.0.0.1", srv.ports["smtp"], timeout=10) as s:
        s.ehlo("client.test")
        assert s.has_extn("starttls")
        assert not s.has_extn("auth")
        s.starttls(context=srv.client_context())
        s.ehlo("client.test")
        assert not s.has_extn("starttls")
        s.sendmail("sender@remote.test", ["alice@example.test"], body)
    got = new_messages(srv, "alice@example.test", before)
    assert len(got) == 1
    assert strip_trace(got[0]) == body


def test_smtps_implicit_tls(srv):
    before = srv.messages("bob@example.test")
    with smtplib.SMTP_SSL("127.0.0.1", srv.ports["smtps"], timeout=10,
                          context=srv.client_context()) as s:
        code, _ = s.ehlo("client.test")
        assert code == 250
        assert not s.has_extn("starttls")
        assert s.has_extn("auth")
        # smtps is a submission port: mail needs AUTH first
        code, msg = s.mail("bob@example.test")
        assert (code, msg[:5]) == (530, b"5.7.0")
    assert new_messages(srv, "bob@example.test", before) == []


def test_received_header_names_tls(srv):
    before = srv.messages("alice@example.test")
    with smtplib.SMTP("127.0.0.1", srv.ports["smtp"], timeout=10) as s:
        s.starttls(context=srv.client_context())
        s.sendmail("x@remote.test", ["alice@example.test"], b"Subject: r\r\n\r\nhi\r\n")
    msg = new_messages(srv, "alice@example.test", before)[0]
    head = msg.split(b"\r\n\r\n")[0].decode()
    assert head.startswith("Return-Path: <x@remote.test>\r\nReceived: from ")
    assert "with ESMTPS id" in head
    assert "(using TLSv1.3 with cipher TLS_" in head
    assert "for <alice@example.test>;" in head


def test_curl_ssl_reqd(srv, tmp_path):
    before = srv.messages("bob@example.test")
    mail = tmp_path / "m.eml"
    mail.write_bytes(b"Subject: curl\r\n\r\nsent by curl\r\n")
    r = subprocess.run(["curl", "-sS", "--ssl-reqd", "--cacert",
                        os.path.join(srv.certs, "mail.crt"),
                        f"smtp://localhost:{srv.ports['smtp']}",
                        "--mail-from", "c@remote.test", "--mail-rcpt",
                        "bob@example.test", "--upload-file", str(mail)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    got = new_messages(srv, "bob@example.test", before)
    assert [strip_trace(m) for m in got] == [b"Subject: curl\r\n\r\nsent by curl\r\n"]


def test_swaks_tls(srv):
    before = srv.messages("alice@example.test")
    r = subprocess.run(["swaks", "--server", f"127.0.0.1:{srv.ports['smtp']}",
                        "--tls", "--to", "alice@example.test", "--from",
                        "s@remote.test", "--body", "swaks body"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "250 2.0.0 Ok: queued as" in r.stdout
    got = new_messages(srv, "alice@example.test", before)
    assert len(got) == 1 and b"swaks body" in got[0]


def test_openssl_s_client_starttls(srv):
    r = subprocess.run(["openssl", "s_client", "-connect",
                        f"127.0.0.1:{srv.ports['smtp']}", "-starttls", "smtp",
                        "-CAfile", os.path.join(srv.certs, "mail.crt"),
                        "-verify_return_error", "-quiet", "-ign_eof"],
                       input="EHLO x.test\r\nQUIT\r\n", capture_output=True,
                       text=True, timeout=30)
    assert "250-mail.example.test" in r.stdout
    assert "250 AUTH PLAIN LOGIN" in r.stdout or "AUTH PLAIN LOGIN" in r.stdout
    assert "STARTTLS" not in r.stdout
    assert "221 2.0.0 Bye" in r.stdout


# ---- STARTTLS ------------------------------------------------------------------

def test_starttls_refused_inside_tls(srv):
    c = starttls_raw(srv)
    assert c.cmd("STARTTLS") == [b"554 5.5.1 Error: TLS already active"]
    assert c.cmd("NOOP") == [b"250 2.0.0 Ok"]
    c.close()


def test_starttls_pipelined_command_is_never_answered(srv):
    c = Raw(srv.ports["smtp"])
    c.reply()
    c.cmd("EHLO client.test")
    # Injection attempt: a command in the same write as STARTTLS.
    c.send(b"STARTTLS\r\nMAIL FROM:<evil@remote.test>\r\n")
    assert c.reply() == [b"220 2.0.0 Ready to start TLS"]
    assert c.buf == b""
    c.starttls(srv.client_context())
    # The session starts over: MAIL before EHLO is a sequence error, which
    # proves the injected MAIL was dropped, and nothing else is waiting.
    assert c.cmd("MAIL FROM:<a@remote.test>") == [
        b"503 5.5.1 Error: send HELO/EHLO first"]
    assert c.cmd("NOOP") == [b"250 2.0.0 Ok"]
    c.close()
    srv.wait_log("starttls discarded=")


def test_session_resets_after_starttls(srv):
    c = Raw(srv.ports["smtp"])
    c.reply()
    c.cmd("EHLO client.test")
    assert c.cmd("MAIL FROM:<a@remote.test>")[0].startswith(b"250")
    c.cmd("STARTTLS")
    c.starttls(srv.client_context())
    assert c.cmd("RCPT TO:<alice@example.test>")[0].startswith(b"503")
    ehlo = c.cmd("EHLO client.test")
    assert b"250 STARTTLS" not in ehlo and b"250-STARTTLS" not in ehlo
    c.close()


def test_implicit_port_sends_no_plaintext_and_rejects_plaintext(srv):
    s = socket.create_connection(("127.0.0.1", srv.ports["smtps"]), timeout=5)
    s.settimeout(1)
    with pytest.raises(socket.timeout):
        s.recv(100)          # no plaintext greeting
    s.sendall(b"EHLO plaintext.test\r\n")
    s.settimeout(5)
    data = b""
    try:
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    except ConnectionResetError:
        pass
    s.close()
    assert b"250" not in data and b"220" not in data
    # ...and the server still serves TLS clients
    with smtplib.SMTP_SSL("127.0.0.1", srv.ports["smtps"], timeout=10,
                          context=srv.client_context()) as c:
        assert c.noop()[0] == 250


def test_tls_1_1_refused(srv):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_ciphers("DEFAULT@SECLEVEL=0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_1
        ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    with pytest.raises(ssl.SSLError):
        with socket.create_connection(("127.0.0.1", srv.ports["smtps"]), timeout=5) as s:
            with ctx.wrap_socket(s):
                pass
    # TLS 1.2 with an AEAD suite works
    ctx12 = srv.client_context()
    ctx12.maximum_version = ssl.TLSVersion.TLSv1_2
    with socket.create_connection(("127.0.0.1", srv.ports["smtps"]), timeout=5) as s:
        with ctx12.wrap_socket(s, server_hostname="localhost") as t:
            assert t.version() == "TLSv1.2"
            assert "GCM" in t.cipher()[0] or "CHACHA20" in t.cipher()[0]
            assert t.cipher()[0].startswith(("ECDHE", "DHE"))


def test_tls12_cbc_and_non_fs_suites_refused(srv):
    for suite in ("AES128-SHA", "AES256-GCM-SHA384", "ECDHE-RSA-AES128-SHA256"):
        ctx = srv.client_context()
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_ciphers(suite)
        with pytest.raises(ssl.SSLError):
            with socket.create_connection(("127.0.0.1", srv.ports["smtps"]), timeout=5) as s:
                with ctx.wrap_socket(s, server_hostname="localhost"):
                    pass


def test_tls_session_resumption(srv):
    ctx = srv.client_context()
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    with socket.create_connection(("127.0.0.1", srv.ports["smtps"]), timeout=5) as s:
        with ctx.wrap_socket(s, server_hostname="localhost") as t:
            t.recv(100)
            session = t.session
    resumed = False
    for _ in range(4):   # several workers share the ticket keys
        with socket.create_connection(("127.0.0.1", srv.ports["smtps"]), timeout=5) as s:
            with ctx.wrap_socket(s, server_hostname="localhost", session=session) as t:
                t.recv(100)
                resumed = resumed or t.session_reused
    assert resumed


# ---- delivery -------------------------------------------------------------------

def test_dot_unstuffing_and_lone_dot(srv):
    before = srv.messages("alice@example.test")
    c = send_raw_message(srv, b"Subject: dots\r\n\r\n..\r\n...x\r\n.y\r\n\r\n.\r\n")
    assert c.reply()[0].startswith(b"250 2.0.0 Ok: queued as")
    c.close()
    got = new_messages(srv, "alice@example.test", before)
    assert strip_trace(got[0]) == b"Subject: dots\r\n\r\n.\r\n..x\r\ny\r\n\r\n"


@pytest.mark.parametrize("seq,stored", [
    (b"\n.\n", b"\r\n.\r\n"),
    (b"\n.\r\n", b"\r\n.\r\n"),
    (b"\r.\r\n", b"\r.\r\n"),
    (b"\r\n.\n", b"\r\n.\r\n"),
])
def test_smuggling_sequences_stay_inside_the_message(srv, seq, stored):
    """CVE-2023-51764 class: only <CRLF>.<CRLF> ends DATA."""
    before = srv.messages("alice@example.test")
    smuggled = (b"MAIL FROM:<evil@remote.test>\r\nRCPT TO:<bob@example.test>\r\n"
                b"DATA\r\nSubject: smuggled\r\n")
    c = send_raw_message(srv, b"Subject: outer\r\n\r\nbody" + seq + smuggled +
                         b"\r\n.\r\n")
    assert c.reply()[0].startswith(b"250 2.0.0")
    assert c.cmd("NOOP") == [b"250 2.0.0 Ok"]
    c.close()
    got = new_messages(srv, "alice@example.test", before)
    assert len(got) == 1
    expected = b"Subject: outer\r\n\r\nbody" + stored + smuggled + b"\r\n"
    assert strip_trace(got[0]) == expected


def test_bare_lf_in_data_is_stored_as_crlf(srv):
    before = srv.messages("bob@example.test")
    c = send_raw_message(srv, b"Subject: lf\n\nline one\nline two\r\n.\r\n",
                         rcpt="bob@example.test")
    assert c.reply()[0].startswith(b"250")
    c.close()
    got = new_messages(srv, "bob@example.test", before)
    assert strip_trace(got[0]) == b"Subject: lf\r\n\r\nline one\r\nline two\r\n"


def test_bare_lf_lines_are_dot_unstuffed_like_crlf_lines(srv):
    """smtpd_forbid_bare_newline = normalize, consistently: a line ended by
    a bare LF is stored with CRLF and dot-unstuffed like any other line."""
    before = srv.messages("bob@example.test")
    c = send_raw_message(srv, b"Subject: lf dots\n\n..starts with dot\n..\n"
                         b".x\nlast\r\n.\r\n", rcpt="bob@example.test")
    assert c.reply()[0].startswith(b"250")
    c.close()
    got = new_messages(srv, "bob@example.test", before)
    assert strip_trace(got[0]) == (b"Subject: lf dots\r\n\r\n.starts with dot\r\n"
                                   b".\r\nx\r\nlast\r\n")


def test_ten_megabyte_message_byte_exact(srv):
    before = srv.messages("bob@example.test")
    line = bytes(range(33, 127)) + b"\xc3\xa9\r\n"
    body = b"Subject: big\r\n\r\n" + line * (10 * 1024 * 1024 // len(line))
    with smtplib.SMTP("127.0.0.1", srv.ports["smtp"], timeout=60) as s:
        s.starttls(context=srv.client_context())
        s.sendmail("big@remote.test", ["bob@example.test"], body)
    got = new_messages(srv, "bob@example.test", before)
    assert len(got) == 1 and strip_trace(got[0]) == body
    names = os.listdir(os.path.join(srv.maildir("bob@example.test"), "new"))
    assert any(f",S={len(got[0])},W={len(got[0])}" in n for n in names)


def test_several_recipients_each_get_the_message(srv):
    a0, b0 = srv.messages("alice@example.test"), srv.messages("bob@example.test")
    c0 = srv.messages("carol@example.org")
    with smtplib.SMTP("127.0.0.1", srv.ports["smtp"], timeout=10) as s:
        s.starttls(context=srv.client_context())
        s.sendmail("x@remote.test", ["alice@example.test", "Bob@Example.TEST",
                                     "carol@example.org", "alice@example.test"],
                   b"Subject: many\r\n\r\nto three\r\n")
    assert len(new_messages(srv, "alice@example.test", a0)) == 1
    assert len(new_messages(srv, "bob@example.test", b0)) == 1
    assert len(new_messages(srv, "carol@example.org", c0)) == 1


def test_pipelining_many_commands_in_one_write(srv):
    before = srv.messages("alice@example.test")
    c = starttls_raw(srv)
    c.send(b"MAIL FROM:<p@remote.test>\r\nRCPT TO:<alice@example.test>\r\n"
           b"RCPT TO:<nobody@example.test>\r\nRCPT TO:<bob@example.test>\r\n"
           b"DATA\r\n")
    assert c.reply() == [b"250 2.1.0 Ok"]
    assert c.reply() == [b"250 2.1.5 Ok"]
    assert c.reply()[0].startswith(b"550 5.1.1 <nobody@example.test>")
    assert c.reply() == [b"250 2.1.5 Ok"]
    assert c.reply()[0].startswith(b"354")
    c.send(b"Subject: piped\r\n\r\nx\r\n.\r\nRSET\r\nNOOP\r\nQUIT\r\n")
    assert c.reply()[0].startswith(b"250 2.0.0 Ok: queued")
    assert c.reply() == [b"250 2.0.0 Ok"]
    assert c.reply() == [b"250 2.0.0 Ok"]
    assert c.reply() == [b"221 2.0.0 Bye"]
    got = new_messages(srv, "alice@example.test", before)
    assert [strip_trace(m) for m in got] == [b"Subject: piped\r\n\r\nx\r\n"]


# ---- policy -----------------------------------------------------------------------

def test_relay_denied_and_unknown_user(srv):
    c = starttls_raw(srv)
    assert c.cmd("MAIL FROM:<a@remote.test>")[0].startswith(b"250")
    assert c.cmd("RCPT TO:<victim@elsewhere.test>") == [
        b"554 5.7.1 <victim@elsewhere.test>: Relay access denied"]
    assert c.cmd("RCPT TO:<nobody@example.test>")[0].startswith(
        b"550 5.1.1 <nobody@example.test>: Recipient address rejected")
    assert c.cmd("DATA") == [b"503 5.5.1 Error: need RCPT command"]
    c.close()


def test_submission_requires_auth(srv):
    c = Raw(srv.ports["submission"])
    c.reply()
    ehlo = c.cmd("EHLO client.test")
    assert b"250-STARTTLS" in ehlo
    assert not any(b"AUTH" in line for line in ehlo)
    assert c.cmd("MAIL FROM:<alice@example.test>") == [b"530 5.7.0 Authentication required"]
    c.close()


def test_size_declared_too_big(srv):
    c = starttls_raw(srv)
    assert c.cmd("MAIL FROM:<a@remote.test> SIZE=999999999999")[0].startswith(b"552 5.3.4")
    assert c.cmd("MAIL FROM:<a@remote.test> SIZE=100 BODY=8BITMIME")[0].startswith(b"250")
    c.close()


def test_vrfy_expn_disclose_nothing(srv):
    c = starttls_raw(srv)
    known = c.cmd("VRFY alice@example.test")
    unknown = c.cmd("VRFY nobody@example.test")
    assert known == unknown
    assert known[0].startswith(b"252 2.5.2")
    assert c.cmd("EXPN staff")[0].startswith(b"252")
    c.close()


def test_address_syntax(srv):
    c = starttls_raw(srv)
    assert c.cmd("MAIL FROM:alice@x.test")[0].startswith(b"501")
    assert c.cmd("MAIL FROM:<a b@x.test>")[0].startswith(b"501")
    assert c.cmd("MAIL FROM:<@relay.test:a@x.test>")[0].startswith(b"250")
    assert c.cmd('RCPT TO:<"alice"@example.test>')[0].startswith(b"250")
    assert c.cmd("RCPT TO:<" + "a" * 65 + "@example.test>") == [
        b"501 5.1.3 Bad recipient address syntax: local part longer than 64 octets"]
    assert c.cmd("RCPT TO:<alice@example.test> NOTIFY=NEVER")[0].startswith(b"555")
    assert c.cmd("RCPT TO:<Postmaster>")[0][:3] in (b"250", b"550")
    c.close()


@pytest.mark.parametrize("tls", [False, True])
def test_helo_must_be_a_domain_or_address_literal(srv, tls):
    c = starttls_raw(srv) if tls else Raw(srv.ports["smtp"])
    if not tls:
        c.reply()
    for bad, why in [(b"\xff\xfe", b"invalid name"), (b"x..test", b"invalid name"),
                     (b"b\xc3.test", b"invalid name"),
                     (b"[300.1.1.1]", b"bad IPv4 address literal"),
                     (b"[IPv6:2001:db8::zz]", b"bad IPv6 address literal"),
                     (b"[tag:x]", b"address literal tag not supported (only IPv6:)")]:
        for verb in (b"EHLO", b"HELO"):
            assert c.cmd(verb + b" " + bad + b"\r\n") == [
                b"501 5.5.2 Helo command rejected: " + why]
    if not tls:     # a refused EHLO is no EHLO
        assert c.cmd("MAIL FROM:<a@remote.test>")[0].startswith(b"503 5.5.1")
    assert c.cmd("EHLO [192.0.2.1]")[0].startswith(b"250")
    assert c.cmd("HELO [IPv6:2001:db8::1]")[0].startswith(b"250")
    assert c.cmd("EHLO DESKTOP_4F2A")[0].startswith(b"250")
    assert c.cmd(b"EHLO b\xc3\xbccher.example\r\n")[0].startswith(b"250")
    c.close()
    srv.wait_log('helo rejected name="\\xff\\xfe" error="invalid name"')


def test_address_literals_are_checked(srv):
    c = starttls_raw(srv)
    assert c.cmd("MAIL FROM:<user@[300.1.1.1]>") == [
        b"501 5.1.7 Bad sender address syntax: bad IPv4 address literal"]
    assert c.cmd("MAIL FROM:<user@[foo:bar]>") == [
        b"501 5.1.7 Bad sender address syntax: address literal tag not supported "
        b"(only IPv6:)"]
    assert c.cmd("MAIL FROM:<user@[192.0.2.1]>")[0].startswith(b"250")
    assert c.cmd("RCPT TO:<x@[1.2.3.999]>") == [
        b"501 5.1.3 Bad recipient address syntax: bad IPv4 address literal"]
    assert c.cmd("RCPT TO:<x@[IPv6:1::2::3]>") == [
        b"501 5.1.3 Bad recipient address syntax: bad IPv6 address literal"]
    assert c.cmd("RCPT TO:<x@[IPv6:2001:db8::1]>")[0].startswith(b"554 5.7.1")
    c.close()


def test_utf8_address_needs_smtputf8(srv):
    c = starttls_raw(srv)
    assert c.cmd(b"MAIL FROM:<j\xc3\xb6rg@remote.test>\r\n")[0].startswith(b"553 5.6.7")
    assert c.cmd(b"MAIL FROM:<j\xc3\xb6rg@remote.test> SMTPUTF8\r\n")[0].startswith(b"250")
    c.cmd("RSET")
    # UTF-8 only: not any octet above 127
    assert c.cmd(b"MAIL FROM:<j\xf6rg@remote.test> SMTPUTF8\r\n")[0].startswith(b"501 5.1.7")
    c.close()


# ---- bad input: answered, and the server keeps serving ------------------------------

@pytest.mark.parametrize("tls", [False, True])
@pytest.mark.parametrize("junk,reply", [
    (b"NOOP" + b"x" * 600 + b"\r\n", b"500 5.5.2 Error: line too long"),
    (b"A" * 20000, b"500 5.5.2 Error: line too long"),
    (b"NOOP\n", b"500 5.5.2 Error: bare <LF> received; lines end with <CR><LF>"),
    (b"NO\x00OP\r\n", b"500 5.5.2 Error: NUL character in command"),
    (b"\xff\xfe\x80garbage\r\n", b"500 5.5.2 Error: command not recognized"),
    (b"MAIL\r\n", b"503 5.5.1 Error: send HELO/EHLO first"),
])
def test_bad_input_gets_a_reply(srv, tls, junk, reply):
    c = Raw(srv.ports["smtp"])
    c.reply()
    if tls:
        c.cmd("EHLO x.test")
        c.cmd("STARTTLS")
        c.starttls(srv.client_context())
    c.send(junk)
    if junk.startswith(b"A" * 100):
        c.send(b"\r\n")
    assert c.reply() == [reply]
    assert c.cmd("NOOP") == [b"250 2.0.0 Ok"]
    c.close()
    with smtplib.SMTP("127.0.0.1", srv.ports["smtp"], timeout=10) as s:
        assert s.noop()[0] == 250


def test_too_many_errors_disconnects(srv):
    c = Raw(srv.ports["smtp"])
    c.reply()
    for _ in range(19):
        assert c.cmd("BOGUS")[0].startswith(b"500")
    c.send(b"BOGUS\r\n")
    data = c.read_all()
    assert b"421 4.7.0 mail.example.test Error: too many errors" in data


def test_message_over_size_limit_is_not_delivered(make_server):
    srv = make_server(limits="max_message_size = 2048")
    c = send_raw_message(srv, b"Subject: big\r\n\r\n" + b"x" * 4000 + b"\r\n.\r\n")
    assert c.reply()[0].startswith(b"552 5.3.4")
    assert c.cmd("NOOP") == [b"250 2.0.0 Ok"]
    c.close()
    assert srv.messages("alice@example.test") == []
    assert os.listdir(os.path.join(srv.data, "spool")) == []


def test_idle_timeout(make_server):
    srv = make_server(limits="smtp_timeout = 5")
    c = Raw(srv.ports["smtp"])
    c.reply()
    start = time.time()
    data = c.read_all(timeout=15)
    assert b"421 4.4.2 mail.example.test Error: timeout exceeded" in data
    assert 4 <= time.time() - start < 12


def test_connection_limit_per_ip(make_server):
    srv = make_server(limits="max_connections_per_ip = 3")
    held = [Raw(srv.ports["smtp"]) for _ in range(3)]
    for c in held:
        assert c.reply()[0].startswith(b"220")
    extra = Raw(srv.ports["smtp"])
    assert extra.read_all().startswith(b"421 4.7.0")
    held[0].cmd("QUIT")
    held[0].close()
    time.sleep(0.3)
    again = Raw(srv.ports["smtp"])
    assert again.reply()[0].startswith(b"220")
    for c in held[1:] + [again]:
        c.close()


def test_sigterm_says_goodbye_to_idle_clients(make_server):
    srv = make_server()
    c = Raw(srv.ports["smtp"])
    c.reply()
    srv.proc.terminate()
    assert b"421 4.3.2 mail.example.test Service shutting down" in c.read_all(timeout=10)
    srv.check_clean_exit()


def test_kill9_loses_no_acknowledged_message(make_server):
    """Every message that got a 250 is in the Maildir after kill -9."""
    import threading
    srv = make_server()
    acked = []
    stop = threading.Event()

    def sender(n):
        i = 0
        while not stop.is_set():
            body = f"Subject: m{n}-{i}\r\n\r\nbody {n} {i}\r\n".encode()
            try:
                with smtplib.SMTP("127.0.0.1", srv.ports["smtp"], timeout=5) as s:
                    s.starttls(context=srv.client_context())
                    s.sendmail("k@remote.test", ["alice@example.test"], body)
                    acked.append(body)
            except (OSError, smtplib.SMTPException):
                pass
            i += 1

    threads = [threading.Thread(target=sender, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    time.sleep(3)
    srv.kill9()
    stop.set()
    for t in threads:
        t.join()
    stored = {strip_trace(m) for m in srv.messages("alice@example.test")}
    assert len(acked) > 5
    missing = [b for b in acked if b not in stored]
    assert missing == []
    # no half-written message anywhere in the Maildir
    assert all(m.endswith(b"\r\n") for m in srv.messages("alice@example.test"))


def test_client_gone_after_the_dot_is_delivered_and_logged(srv):
    """A client that hangs up right after its final dot sent the whole
    message: it is committed (once), and the log says so, with or without
    the reply having reached anyone."""
    before = srv.messages("bob@example.test")
    for i in range(5):
        c = send_raw_message(srv, f"Subject: gone {i}\r\n\r\nbye\r\n.\r\n".encode(),
                             rcpt="bob@example.test", tls=False,
                             sender="leaver@remote.test")
        c.sock.close()                 # before the reply
    srv.wait_log_re(r"delivered id=\S+ (from=<leaver@remote\.test>|size=\d+ "
                    r"\(the client left before the reply\))", count=5)
    got = sorted(strip_trace(m) for m in new_messages(srv, "bob@example.test", before))
    assert got == [f"Subject: gone {i}\r\n\r\nbye\r\n".encode() for i in range(5)]
