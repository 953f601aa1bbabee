"""SMTP AUTH (RFC 4954) over TLS only, submission, sender checks, delays."""
import base64
import os
import smtplib
import subprocess
import time

import pytest

from mailserver import PASSWORD, Raw, strip_trace


def b64(s):
    return base64.b64encode(s.encode() if isinstance(s, str) else s).decode()


def tls_session(srv, service="submission"):
    c = Raw(srv.ports[service])
    c.reply()
    c.cmd("EHLO client.test")
    c.cmd("STARTTLS")
    c.starttls(srv.client_context())
    return c, c.cmd("EHLO client.test")


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    from mailserver import Server
    s = Server(tmp_path_factory.mktemp("auth"),
               users=("alice@example.test", "bob@example.test"))
    yield s
    s.check_clean_exit()


def test_auth_not_offered_and_refused_in_plaintext(srv):
    for service in ("smtp", "submission"):
        c = Raw(srv.ports[service])
        c.reply()
        ehlo = c.cmd("EHLO client.test")
        assert not any(b"AUTH" in line for line in ehlo)
        cred = b64("\0alice@example.test\0" + PASSWORD)
        assert c.cmd(f"AUTH PLAIN {cred}") == [
            b"538 5.7.11 Encryption required for requested authentication mechanism"]
        assert c.cmd("AUTH LOGIN") [0].startswith(b"538")
        c.close()
    assert PASSWORD not in srv.log_text()


@pytest.mark.parametrize("service", ["smtp", "submission"])
def test_plain_and_login_after_starttls(srv, service):
    c, ehlo = tls_session(srv, service)
    assert b"250-AUTH PLAIN LOGIN" in ehlo or b"250 AUTH PLAIN LOGIN" in ehlo
    assert c.cmd("AUTH PLAIN " + b64("\0alice@example.test\0" + PASSWORD)) == [
        b"235 2.7.0 Authentication successful"]
    assert c.cmd("AUTH PLAIN x")[0].startswith(b"503")
    c.close()
    c, _ = tls_session(srv, service)
    assert c.cmd("AUTH LOGIN") == [b"334 VXNlcm5hbWU6"]
    assert c.cmd(b64("Bob@Example.test")) == [b"334 UGFzc3dvcmQ6"]
    assert c.cmd(b64(PASSWORD)) == [b"235 2.7.0 Authentication successful"]
    c.close()


def test_plain_without_initial_response(srv):
    c, _ = tls_session(srv)
    assert c.cmd("AUTH PLAIN") == [b"334 "]
    assert c.cmd(b64("\0alice@example.test\0" + PASSWORD))[0].startswith(b"235")
    c.close()


def test_auth_cancel_and_garbage(srv):
    c, _ = tls_session(srv)
    assert c.cmd("AUTH LOGIN") == [b"334 VXNlcm5hbWU6"]
    assert c.cmd("*") == [b"501 5.7.0 Authentication aborted"]
    assert c.cmd("AUTH PLAIN !!!notbase64") [0].startswith(b"501 5.5.2")
    assert c.cmd("AUTH CRAM-MD5") == [b"504 5.5.4 Unrecognized authentication type"]
    assert c.cmd("NOOP") == [b"250 2.0.0 Ok"]
    c.close()


def test_smtplib_submission_and_smtps_deliver_local(srv):
    before = srv.messages("bob@example.test")
    with smtplib.SMTP("127.0.0.1", srv.ports["submission"], timeout=10) as s:
        s.starttls(context=srv.client_context())
        s.login("alice@example.test", PASSWORD)
        s.sendmail("alice@example.test", ["bob@example.test"],
                   b"Subject: sub\r\n\r\nvia submission\r\n")
    with smtplib.SMTP_SSL("127.0.0.1", srv.ports["smtps"], timeout=10,
                          context=srv.client_context()) as s:
        s.login("alice@example.test", PASSWORD)
        s.sendmail("alice@example.test", ["bob@example.test"],
                   b"Subject: sub2\r\n\r\nvia smtps\r\n")
    got = srv.messages("bob@example.test")[len(before):]
    assert [strip_trace(m) for m in got] == [
        b"Subject: sub\r\n\r\nvia submission\r\n", b"Subject: sub2\r\n\r\nvia smtps\r\n"]
    assert b"with ESMTPSA" in got[0]


def test_remote_recipient_is_accepted_when_authenticated(srv):
    """Relayed for users (queued at DATA: tests/proto/test_outbound*.py);
    the same recipient without AUTH is refused."""
    with smtplib.SMTP_SSL("127.0.0.1", srv.ports["smtps"], timeout=10,
                          context=srv.client_context()) as s:
        s.login("alice@example.test", PASSWORD)
        s.mail("alice@example.test")
        code, msg = s.rcpt("someone@elsewhere.test")
        assert code == 250 and msg.startswith(b"2.1.5")
        s.rset()
    with smtplib.SMTP("127.0.0.1", srv.ports["smtp"], timeout=10) as s:
        s.ehlo("client.test")
        s.mail("alice@example.test")
        code, msg = s.rcpt("someone@elsewhere.test")
        assert code == 554 and b"Relay access denied" in msg


def test_sender_must_belong_to_the_user(srv):
    with smtplib.SMTP_SSL("127.0.0.1", srv.ports["smtps"], timeout=10,
                          context=srv.client_context()) as s:
        s.login("alice@example.test", PASSWORD)
        code, msg = s.mail("bob@example.test")
        assert code == 553 and msg.startswith(b"5.7.1")
        assert s.mail("ALICE@example.test")[0] == 250


def test_curl_and_swaks_auth(srv, tmp_path):
    before = srv.messages("bob@example.test")
    mail = tmp_path / "m.eml"
    mail.write_bytes(b"Subject: curl auth\r\n\r\nhello\r\n")
    netrc = tmp_path / "netrc"     # keeps the password off the command line
    netrc.write_text(f"machine localhost login alice@example.test password \"{PASSWORD}\"\n")
    r = subprocess.run(["curl", "-sS", "--ssl-reqd", "--netrc-file", str(netrc),
                        "--cacert", os.path.join(srv.certs, "mail.crt"),
                        f"smtp://localhost:{srv.ports['submission']}",
                        "--mail-from", "alice@example.test",
                        "--mail-rcpt", "bob@example.test", "--upload-file", str(mail)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    r = subprocess.run(["swaks", "--server", f"127.0.0.1:{srv.ports['submission']}",
                        "--tls", "--auth", "LOGIN", "--auth-user", "alice@example.test",
                        "--auth-password", PASSWORD, "--from", "alice@example.test",
                        "--to", "bob@example.test", "--body", "swaks auth"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stdout
    got = srv.messages("bob@example.test")[len(before):]
    assert len(got) == 2
    assert PASSWORD not in srv.log_text()


def test_user_added_while_running_logs_in_at_once(srv):
    srv.add_user("dave@example.test", "dave's new password")
    with smtplib.SMTP_SSL("127.0.0.1", srv.ports["smtps"], timeout=10,
                          context=srv.client_context()) as s:
        assert s.login("dave@example.test", "dave's new password")[0] == 235


def test_failures_are_alike_delayed_and_capped(make_server):
    srv = make_server()

    def attempt(c, user, password):
        t = time.time()
        reply = c.cmd("AUTH PLAIN " + b64(f"\0{user}\0{password}"))
        return reply, time.time() - t

    c, _ = tls_session(srv)
    wrong, t1 = attempt(c, "alice@example.test", "wrong")
    unknown, t2 = attempt(c, "nobody@example.test", "wrong")
    assert wrong == unknown == [b"535 5.7.8 Error: authentication failed"]
    # the delay grows: 0.5 s, then 1 s (more than the hashing itself)
    assert t1 >= 0.45 and t2 >= 0.95, (t1, t2)
    third, _ = attempt(c, "alice@example.test", "still wrong")
    assert third == [b"535 5.7.8 Error: authentication failed"]
    assert b"421 4.7.0" in c.read_all(timeout=5)    # 3 failures: goodbye
    # the next connection from this address still waits, even on success
    c, _ = tls_session(srv)
    ok, t4 = attempt(c, "alice@example.test", PASSWORD)
    assert ok == [b"235 2.7.0 Authentication successful"] and t4 >= 1.9, t4
    c.close()
    log = srv.log_text()
    assert 'auth failed user="alice@example.test" mechanism=PLAIN address=127.0.0.1' in log
    assert 'auth failed user="nobody@example.test"' in log
    assert 'auth ok user="alice@example.test"' in log


def test_dovecot_passwd_file_with_sha512_crypt(make_server):
    srv = make_server(users=())
    hash6 = subprocess.run(["openssl", "passwd", "-6", "dovecot pw"],
                           capture_output=True, text=True, check=True).stdout.strip()
    os.makedirs(srv.data, exist_ok=True)
    with open(os.path.join(srv.data, "passwd"), "w") as f:
        f.write("# imported from Dovecot\n"
                f"old@example.test:{{SHA512-CRYPT}}{hash6}:1000:1000::/home/old::\n"
                "broken line without colon\n"
                "plain@example.test:{PLAIN}secret\n"
                f"bare@example.test:{hash6}\n")
    for user in ("old@example.test", "bare@example.test"):
        with smtplib.SMTP_SSL("127.0.0.1", srv.ports["smtps"], timeout=10,
                              context=srv.client_context()) as s:
            assert s.login(user, "dovecot pw")[0] == 235
    with smtplib.SMTP_SSL("127.0.0.1", srv.ports["smtps"], timeout=10,
                          context=srv.client_context()) as s:
        with pytest.raises(smtplib.SMTPAuthenticationError):
            s.login("plain@example.test", "secret")
    log = srv.log_text()
    assert "passwd:3:" in log.replace(srv.data + "/", "")
    assert "passwd:4:" in log.replace(srv.data + "/", "")


def test_user_name_cannot_forge_log_fields(make_server):
    srv = make_server()
    c, _ = tls_session(srv)
    forged = 'x" address=203.0.113.9 \x1b[31m'
    reply = c.cmd("AUTH PLAIN " + b64(f"\0{forged}\0pw"))
    assert reply == [b"535 5.7.8 Error: authentication failed"]
    c.close()
    line = [l for l in srv.wait_log("auth failed").splitlines() if "auth failed" in l][0]
    assert 'user="x\\" address=203.0.113.9 ?[31m"' in line
    assert line.endswith("address=127.0.0.1 recent_failures=1")
