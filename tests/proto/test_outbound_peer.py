"""sealpost to sealpost: the remote MX is a second sealpost, reached over
STARTTLS and authenticated by DANE (a 3 1 1 TLSA record of its key in a
signed zone); its refusal of an unknown user comes back as a DSN."""
import contextlib
import re

import pytest

from dnsworld import DnsWorld, Zone
from mailserver import Server
from outbound_world import Pki, free_port_on, wait_for
from test_outbound import dsns, queue_empty, submit

PEER = "127.0.0.71"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("peer")
    port = free_port_on([PEER])
    with contextlib.ExitStack() as stack:      # stopped even if a start fails
        peer = Server(root / "peer", services=("smtp",), users=("zoe@peer.example",),
                      domains="peer.example", listen={"smtp": f"{PEER}:{port}"})
        stack.callback(lambda: peer.proc is not None and peer.stop())
        tlsa = Pki.spki_sha256_of(f"{peer.certs}/mail.crt")
        dns = DnsWorld(root / "dns", [Zone("example.", signed=True, records=f"""
            peer            MX   10 mx-peer
            mx-peer         A    {PEER}
            _{port}._tcp.mx-peer TLSA 3 1 1 {tlsa}
        """)])
        stack.callback(dns.stop)
        srv = Server(root / "srv", services=("smtp", "submission"),
                     users=("alice@example.test",),
                     extra=dns.outbound_conf() + f"port = {port}\nretry_min = 1h\n")
        yield srv, peer, port
        srv.check_clean_exit()
        peer.check_clean_exit()


def test_to_a_second_sealpost_with_dane(world):
    srv, peer, port = world
    sent = submit(srv, ["zoe@peer.example"], "to the peer")
    wait_for(lambda: peer.messages("zoe@peer.example"), what="delivery to the peer")
    got = peer.messages("zoe@peer.example")
    assert len(got) == 1
    # The peer's trace (Return-Path, its Received with TLS), then ours.
    assert got[0].startswith(b"Return-Path: <alice@example.test>\r\nReceived: from "
                             b"mail.example.test ([127.0.0.1])")
    assert re.search(rb"with ESMTPS id \S+\r\n\t\(using TLSv1\.3 with cipher ", got[0])
    assert b"\tby mail.example.test (sealpost) with ESMTPSA id " in got[0]
    assert got[0].endswith(sent)
    log = srv.wait_log_re(r"smtpc delivered queue_id=\S+ to=<zoe@peer\.example> ")
    assert re.search(r"smtpc delivered queue_id=\S+ to=<zoe@peer\.example> "
                     rf"relay=mx-peer\.example\[{PEER}\]:{port} "
                     r"tls=TLSv1\.3/TLS_\w+/dane auth=dane delay=\d+ "
                     r"reply=\"250 2\.0\.0 Ok: queued as \S+\"", log), log
    assert "smtpc tls version=TLSv1.3" in log and "auth=dane" in log
    wait_for(lambda: queue_empty(srv), what="empty queue")


def test_the_peer_refuses_an_unknown_user(world):
    srv, peer, port = world
    before = len(dsns(srv))
    submit(srv, ["nobody@peer.example"], "to nobody at the peer")
    wait_for(lambda: len(dsns(srv)) > before, what="the DSN")
    text = dsns(srv)[-1].decode()
    assert "Final-Recipient: rfc822; nobody@peer.example" in text
    assert "Status: 5.1.1" in text
    assert ("Diagnostic-Code: smtp; 550 5.1.1 <nobody@peer.example>: Recipient "
            "address rejected: User unknown in local recipient table") in text
    assert "Remote-MTA: dns; mx-peer.example" in text
