"""Outbound mail when the DNS server sealpost asks passes no DNSSEC: the
queue process checks its server at start (". DNSKEY"), and with the
default [outbound] dnssec = auto turns validation off with a warning, so
mail to signed domains still goes (without DANE); with dnssec = require it
stays on and that mail is deferred. The world: a signed root zone of the
test's own, served by nsd behind a front that strips every RRSIG."""
import re

import pytest

from dnsworld import Zone
from mailserver import Server
from outbound_world import Remote, free_port_on, wait_for
from test_outbound import submit

MX_ADDR = "127.0.0.81"


@pytest.fixture
def stripped(dns_world, tmp_path):
    port = free_port_on([MX_ADDR])
    root = Zone(".", signed=True, records=f"""
        signed.example.     MX 10 mx.signed.example.
        mx.signed.example.  A  {MX_ADDR}
    """)
    dns = dns_world([root], strip_dnssec=True)
    remote = Remote(MX_ADDR, port)
    yield dns, remote, port
    remote.stop()


def start(tmp_path, dns, port, extra=""):
    return Server(tmp_path / "srv", services=("smtp", "submission"),
                  users=("alice@example.test",),
                  extra=dns.outbound_conf() +
                  f"port = {port}\nretry_min = 1s\nretry_max = 2s\n" + extra)


def test_validation_goes_off_and_mail_goes(stripped, tmp_path):
    dns, remote, port = stripped
    srv = start(tmp_path, dns, port)
    try:
        log = srv.wait_log("dns: the resolver passes no DNSSEC")
        assert re.search(r"warning: dns: the resolver passes no DNSSEC \(the root's "
                         r"DNSKEY is bogus: validation failure <\. DNSKEY IN>: .*\): "
                         r"validation is off, DANE never applies", log), log
        submit(srv, ["carol@signed.example"], "through a stripping resolver")
        wait_for(lambda: "through a stripping resolver" in remote.subjects(),
                 what="delivery without DNSSEC")
        log = srv.wait_log("to=<carol@signed.example> relay=")
        assert re.search(r"smtpc delivered queue_id=\S+ to=<carol@signed\.example> "
                         rf"relay=mx\.signed\.example\[{re.escape(MX_ADDR)}\]", log), log
    finally:
        srv.stop()
    srv.check_clean_exit()


def test_require_keeps_validation_and_defers(stripped, tmp_path):
    dns, remote, port = stripped
    srv = start(tmp_path, dns, port, "dnssec = require\n")
    try:
        srv.wait_log("dns: the resolver passes no DNSSEC")
        assert "validation stays on ([outbound] dnssec = require)" in srv.log_text()
        submit(srv, ["carol@signed.example"], "not without DNSSEC")
        log = srv.wait_log("deferred to=<carol@signed.example>")
        assert re.search(r"queue: [0-9a-f]{16} deferred to=<carol@signed\.example> "
                         r"reason=\"signed\.example: MX answer is bogus ", log), log
        assert remote.messages == []
    finally:
        srv.stop()
    srv.check_clean_exit()
