"""relayhost: all outbound mail goes through one host (the provider's
submission port), logging in with AUTH PLAIN or LOGIN inside TLS only, the
credentials from a file that only its owner may read."""
import contextlib
import os
import re

import pytest

from conftest import run_cli
from dnsworld import DnsWorld, Zone
from mailserver import Server
from outbound_world import Pki, Remote, free_port_on, wait_for
from test_outbound import queue_empty, submit

RELAY = "127.0.0.41"
PLAIN_RELAY = "127.0.0.42"
SECRET = "s3cret relay pass:word"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("relay")
    pki = Pki(root / "pki")
    pki.issue("relay", "smtp.provider.example")
    port = free_port_on([RELAY, PLAIN_RELAY])
    with contextlib.ExitStack() as stack:      # stopped even if a start fails
        dns = DnsWorld(root / "dns", [Zone("example.", signed=True, records=f"""
            smtp.provider  A  {RELAY}
            provider       MX 10 mx.elsewhere
        """)])
        stack.callback(dns.stop)
        relay = Remote(RELAY, port, tls=pki.server_context("relay"),
                       auth={"relayuser": SECRET})
        stack.callback(relay.stop)
        plain = Remote(PLAIN_RELAY, port, auth={"relayuser": SECRET})
        stack.callback(plain.stop)
        w = type("World", (), {})()
        w.root, w.pki, w.port, w.dns, w.relay, w.plain = root, pki, port, dns, relay, plain
        yield w


def auth_file(path, text, mode=0o600):
    with open(path, "w") as f:
        f.write(text + "\n")
    os.chmod(path, mode)
    return path


def relay_server(make_server, world, tmp_path, relayhost, secret=SECRET, mode=0o600,
                 extra=""):
    creds = auth_file(tmp_path / "relay.auth", f"relayuser:{secret}", mode)
    return make_server(services=("smtp", "submission"), users=("alice@example.test",),
                       extra=world.dns.outbound_conf() +
                       f"relayhost = {relayhost}\nrelayhost_auth = {creds}\n"
                       f"ca_file = {world.pki.ca}\nretry_min = 1h\n{extra}")


def test_relayhost_with_auth(make_server, world, tmp_path):
    srv = relay_server(make_server, world, tmp_path,
                       f"[smtp.provider.example]:{world.port}")
    submit(srv, ["someone@far.example.org"], "via relay one")
    wait_for(lambda: "via relay one" in world.relay.subjects(), what="relay delivery")
    msg = [m for m in world.relay.messages if b"via relay one" in m.content][0]
    assert msg.tls and msg.login == "relayuser"
    assert msg.rcpts == ["someone@far.example.org"]
    assert ("PLAIN", "relayuser", True) in world.relay.logins
    log = srv.wait_log("smtpc delivered")
    assert re.search(r"smtpc delivered queue_id=\S+ to=<someone@far\.example\.org> "
                     rf"relay=smtp\.provider\.example\[{RELAY}\]:{world.port} "
                     r"tls=TLSv1\.3/\S+/anonymous auth=anonymous", log), log
    assert re.search(r"connecting relay=smtp\.provider\.example\S+ tls=\S+.* auth=yes", log)
    # [host]: no MX lookup for the relayhost; none for the recipient's domain.
    assert world.dns.asked("smtp.provider.example", "MX") == []
    assert world.dns.asked("far.example.org") == []
    assert SECRET not in log and "s3cret" not in log
    wait_for(lambda: queue_empty(srv), what="empty queue")


def test_relayhost_verified_by_name(make_server, world, tmp_path):
    """tls_policy for the relayhost: verify, with the test CA."""
    srv = relay_server(make_server, world, tmp_path,
                       f"[smtp.provider.example]:{world.port}",
                       extra="[tls_policy]\nsmtp.provider.example = verify\n")
    submit(srv, ["v@far.example.org"], "via relay verified")
    wait_for(lambda: "via relay verified" in world.relay.subjects(), what="delivery")
    assert re.search(r"to=<v@far\.example\.org> relay=smtp\.provider\.example\S+ "
                     r"tls=TLSv1\.3/\S+/verified auth=verified", srv.log_text())


def test_wrong_password_is_deferred(make_server, world, tmp_path):
    srv = relay_server(make_server, world, tmp_path, f"[{RELAY}]:{world.port}",
                       secret="Wr0ngPassw0rdX")
    submit(srv, ["w@far.example.org"], "via relay wrong")
    log = srv.wait_log("deferred to=<w@far.example.org>")
    assert re.search(r"deferred to=<w@far\.example\.org> reason=\"\S+: auth: "
                     r"authentication failed: 535 5\.7\.8", log), log
    assert "via relay wrong" not in world.relay.subjects()
    assert "Wr0ngPassw0rdX" not in log
    assert ("PLAIN", "relayuser", False) in world.relay.logins
    out = run_cli("queue", "list", "-c", srv.conf).out
    assert "deferred  w@far.example.org" in out


def test_no_auth_without_tls(make_server, world, tmp_path):
    """A relay that offers no STARTTLS never sees the credentials."""
    srv = relay_server(make_server, world, tmp_path, f"[{PLAIN_RELAY}]:{world.port}")
    submit(srv, ["p@far.example.org"], "via relay plain")
    log = srv.wait_log("deferred to=<p@far.example.org>")
    assert "TLS is required, but the server does not offer STARTTLS" in log
    assert world.plain.logins == [] and world.plain.messages == []


def test_credentials_readable_by_others_stop_the_start(world, tmp_path):
    creds = auth_file(tmp_path / "open.auth", f"relayuser:{SECRET}", 0o644)
    with pytest.raises(RuntimeError) as e:
        Server(tmp_path / "srv", services=("smtp",),
               extra=f"[outbound]\nrelayhost = [{RELAY}]:{world.port}\n"
               f"relayhost_auth = {creds}\n")
    assert (f"sealpost: relayhost_auth {creds}: readable by others (mode 0644); "
            f"it holds a password: chmod 600 {creds}") in str(e.value)
    r = run_cli("check-config", "-c", tmp_path / "srv" / "sealpost.conf")
    assert r.rc == 1 and "readable by others" in r.err
    assert SECRET not in str(e.value) + r.err + r.out


def test_relayhost_auth_needs_relayhost(cli, tmp_path):
    creds = auth_file(tmp_path / "x.auth", "u:p")
    (tmp_path / "s.conf").write_text(f"[outbound]\nrelayhost_auth = {creds}\n")
    r = cli("check-config", "-c", "s.conf")
    assert r.rc == 1
    assert r.err.startswith("sealpost: ") and "relayhost_auth needs a relayhost" in r.err


def test_check_config_shows_the_outbound_settings(cli, tmp_path):
    creds = auth_file(tmp_path / "r.auth", "u:p")
    (tmp_path / "s.conf").write_text(
        "domains = example.test\n[outbound]\nrelayhost = [smtp.provider.example]:587\n"
        f"relayhost_auth = {creds}\n[tls_policy]\nbank.example = verify\n"
        "Other.Example = none\n")
    r = cli("check-config", "-c", "s.conf")
    assert r.rc == 0, r
    out = r.out.splitlines()
    assert "outbound    tls dane, relayhost [smtp.provider.example]:587 with AUTH" in out
    assert "tls_policy  bank.example = verify" in out
    assert "tls_policy  other.example = none" in out
    (tmp_path / "t.conf").write_text("domains = example.test\n[outbound]\ntls = may\n"
                                     "port = 2525\n")
    r = cli("check-config", "-c", "t.conf")
    assert "outbound    tls may, to the MX hosts on port 2525" in r.out.splitlines()
