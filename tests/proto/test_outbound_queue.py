"""sealpost queue list | show ID | flush [ID] | delete ID, on a server
whose retries are an hour apart (so that a deferred message stays), and
queue_lifetime: what is still deferred then bounces with a DSN."""
import contextlib
import re
import time

import pytest

from conftest import run_cli
from dnsworld import DnsWorld, Zone
from mailserver import Server
from outbound_world import Remote, free_port_on, wait_for
from test_outbound import dsns, queue_empty, submit

GREY = "127.0.0.51"
DOWN = "127.0.0.52"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("queuecmd")
    port = free_port_on([GREY, DOWN])
    with contextlib.ExitStack() as stack:      # stopped even if a start fails
        dns = DnsWorld(root / "dns", [Zone("example.", signed=True, records=f"""
            grey    MX 10 mx-grey
            down    MX 10 mx-down
            mx-grey A  {GREY}
            mx-down A  {DOWN}
        """)])
        stack.callback(dns.stop)
        grey = Remote(GREY, port, greylist=1)
        stack.callback(grey.stop)
        w = type("World", (), {})()
        w.dns, w.grey, w.port = dns, grey, port
        w.srv = Server(root / "srv", services=("smtp", "submission"),
                       users=("alice@example.test",),
                       extra=dns.outbound_conf() + f"port = {port}\nretry_min = 1h\n")
        yield w
        w.srv.check_clean_exit()


def q(srv, *args):
    return run_cli("queue", *args, "-c", srv.conf)


def queued_id(srv, rcpt):
    """The queue id the server logged for rcpt (its "queued" line: the
    queue process may log its first attempt before the worker logs it)."""
    pattern = rf"queue_id=([0-9a-f]{{16}}) from=<[^>]*> to=<{re.escape(rcpt)}>"
    wait_for(lambda: re.search(pattern, srv.log_text(settle=0)), what=f"queued {rcpt}")
    return re.search(pattern, srv.log_text(settle=0)).group(1)


def test_list_show_flush(world):
    srv, grey = world.srv, world.grey
    r = q(srv, "list")
    assert r.rc == 0 and r.out == "the queue is empty\n"
    submit(srv, ["gina@grey.example"], "queued one")
    qid = queued_id(srv, "gina@grey.example")
    srv.wait_log("smtpc deferred queue_id=" + qid)
    wait_for(lambda: "(attempt 1," in q(srv, "list").out, what="the deferral recorded")
    out = q(srv, "list").out
    assert re.search(rf"^{qid} +\d+  \d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d  "
                     r"<alice@example.test>$", out, re.M), out
    assert re.search(r"^    deferred  gina@grey\.example \(attempt 1, next \S+ \S+\) "
                     rf"mx-grey\.example\[{GREY}\]:{world.port}: 451 4\.7\.1 Greylisted",
                     out, re.M), out
    assert out.endswith("-- 1 message, 1 recipient to go\n")
    show = q(srv, "show", qid)
    assert show.rc == 0
    assert f"id        {qid}\n" in show.out
    assert "sender    <alice@example.test>\n" in show.out
    assert "attempts  1, next " in show.out
    assert "recipient gina@grey.example\n  state   deferred (" in show.out
    assert f"  relay   mx-grey.example[{GREY}]:{world.port}\n" in show.out
    assert "  tls     none\n" in show.out
    assert "  reply   451 4.7.1 Greylisted, try again later\n" in show.out
    assert "Subject   queued one\n" in show.out
    # flush: tried now, not in an hour
    r = q(srv, "flush", qid)
    assert r.rc == 0, r
    assert f"queue flush {qid}: the queue process tries now" in r.out
    wait_for(lambda: "queued one" in grey.subjects(), what="delivery after flush")
    wait_for(lambda: queue_empty(srv), what="empty queue")
    assert grey.subjects().count("queued one") == 1


def test_flush_all(world):
    srv, grey = world.srv, world.grey
    submit(srv, ["hal@grey.example"], "flush all one")
    qid = queued_id(srv, "hal@grey.example")
    srv.wait_log("smtpc deferred queue_id=" + qid)
    r = q(srv, "flush")
    assert r.rc == 0 and "(all deferred messages)" in r.out
    wait_for(lambda: "flush all one" in grey.subjects(), what="delivery after flush")


def test_delete(world):
    srv = world.srv
    before = len(dsns(srv))
    submit(srv, ["ida@down.example"], "deleted one")
    qid = queued_id(srv, "ida@down.example")
    srv.wait_log(f"queue: {qid} deferred to=<ida@down.example> reason=\"mx-down.example")
    r = q(srv, "delete", qid)
    assert r.rc == 0 and r.out == f"{qid}: deleted\n"
    srv.wait_log(f"queue: {qid} deleted")
    assert q(srv, "list").out == "the queue is empty\n"
    r = q(srv, "show", qid)
    assert r.rc == 1 and r.err == f"sealpost: {qid}: no such message in the queue\n"
    time.sleep(1)
    assert len(dsns(srv)) == before       # deleted is not bounced


def test_bad_ids(world):
    srv = world.srv
    for cmd in ("show", "delete", "flush"):
        r = q(srv, cmd, "../../etc/passwd")
        assert r.rc == 2 and "is not a queue id" in r.err
        r = q(srv, cmd, "0123456789abcdef")
        assert r.rc == 1
        assert r.err == "sealpost: 0123456789abcdef: no such message in the queue\n"


def test_flush_without_a_server(tmp_path):
    (tmp_path / "s.conf").write_text("data_dir = data\n")
    (tmp_path / "data" / "queue").mkdir(parents=True)
    r = run_cli("queue", "flush", "-c", tmp_path / "s.conf")
    assert r.rc == 1 and "no running server answers" in r.err
    r = run_cli("queue", "list", "-c", tmp_path / "s.conf")
    assert r.rc == 0 and r.out == "the queue is empty\n"


def test_queue_lifetime_bounces(make_server, world, tmp_path):
    srv = make_server(services=("smtp", "submission"), users=("alice@example.test",),
                      extra=world.dns.outbound_conf() +
                      f"port = {world.port}\nretry_min = 1s\nqueue_lifetime = 3s\n")
    submit(srv, ["joe@down.example"], "expired one")
    wait_for(lambda: len(dsns(srv)) == 1, timeout=30, what="the DSN")
    text = dsns(srv)[0].decode()
    assert "Final-Recipient: rfc822; joe@down.example" in text
    assert "Status: 4.4.7" in text
    assert re.search(r"Diagnostic-Code: X-Sealpost; delivery time expired "
                     r"\(queue_lifetime 3s\); last reply: mx-down\.example\[127\.0\.0\.52\]"
                     r":\d+: connect: Connection refused", text), text
    assert "queue_lifetime" in text.split("message/delivery-status")[0]
    log = srv.log_text()
    assert re.search(r"queue: \w+ bounced to=<joe@down\.example> reason=\"delivery "
                     r"time expired", log)
    assert len(re.findall(r"deferred to=<joe@down\.example>", log)) >= 2
    wait_for(lambda: queue_empty(srv), what="empty queue")


def test_delivery_that_cannot_start_waits(make_server, world, tmp_path):
    """A broken trust anchor stops outbound delivery, not the server: mail
    is still taken and queued, and a reload with the file fixed delivers."""
    anchor = tmp_path / "anchor.ds"
    anchor.write_text("not a DS record\n")
    srv = make_server(services=("smtp", "submission"), users=("alice@example.test",),
                      extra=f"[outbound]\nresolver = {world.dns.address}\n"
                      f"trust_anchor = {anchor}\nport = {world.port}\nretry_min = 1h\n")
    srv.wait_log("queue: cannot deliver: trust_anchor")
    submit(srv, ["kim@grey.example"], "waiting one")
    qid = queued_id(srv, "kim@grey.example")
    assert qid in q(srv, "list").out
    r = q(srv, "flush")
    assert r.rc == 0
    srv.wait_log("queue: flush: delivery is not running")
    with open(world.dns.trust_anchor) as f:
        anchor.write_text(f.read())
    r = run_cli("reload", "-c", srv.conf)
    assert r.rc == 0, r
    srv.wait_log(f"smtpc deferred queue_id={qid}")     # grey: tried at once
    assert "AddressSanitizer" not in srv.log_text()
