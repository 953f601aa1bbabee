"""kill -9 during a delivery run of more than 1,000 messages: nothing
acknowledged is lost, and a message reaches the remote twice only when the
remote had the whole message when the kill came and its 250 had not been
recorded yet: said at most a moment before the kill (the window between its
reply and our record of it, README "Outbound delivery and the queue"), or
after it, to a client that was gone.

The whole server (master, workers, queue process) is killed three times:
while users are still submitting (the remote holding every transaction
open), then twice while the queue drains at full speed. The remote records
when the final dot of each message came and when it said 250; a session
held open by it records nothing when its client is gone by then.

The submission side has its own window, the one of any SMTP server: a
message whose DATA was durable when the kill came but whose 250 never
reached the user is queued again when the user sends it again. Such copies
carry two different Received: ids (two queued messages); only messages
whose submission the kill cut may have them."""
import contextlib
import re
import smtplib
import subprocess
import threading
import time

import pytest

from dnsworld import DnsWorld, Zone
from mailserver import PASSWORD, Server
from outbound_world import Remote, free_port_on, wait_for
from test_outbound import queue_empty

SINK = "127.0.0.61"
MESSAGES = 1200
SUBMITTERS = 4
PER_DEST = 4          # max_connections_per_destination
# A duplicate must have had its first 250 within this long before a kill:
# the reply is read and handed to a pool job that writes the record at
# once (microseconds; generous for the sanitizers on a busy machine).
WINDOW_SECS = 1.0


def submit_range(srv, numbers, acked, cut, stop):
    n = None
    try:
        with smtplib.SMTP("127.0.0.1", srv.ports["submission"], timeout=60) as s:
            s.starttls(context=srv.client_context())
            s.login("alice@example.test", PASSWORD)
            for n in numbers:
                if stop.is_set():
                    return
                body = (f"From: <alice@example.test>\r\nTo: <x@sink.example>\r\n"
                        f"Subject: crash {n}\r\n\r\nmessage {n}\r\n")
                s.sendmail("alice@example.test", [f"r{n % 7}@sink.example"], body)
                acked.add(n)
    except (smtplib.SMTPException, OSError):
        if n is not None and n not in acked:
            cut.add(n)     # the server was killed under us: queued or not


def submit_all(srv, numbers, acked, cut, stop):
    threads = [threading.Thread(target=submit_range,
                                args=(srv, numbers[i::SUBMITTERS], acked, cut, stop))
               for i in range(SUBMITTERS)]
    for t in threads:
        t.start()
    return threads


def kill(srv, kills):
    """kill -9 every process of the server; the moment lies between the
    two times noted (pkill takes a few milliseconds)."""
    before = time.time()
    srv.kill9()
    kills.append((before, time.time()))
    # Every process is gone (and its listening sockets with it).
    wait_for(lambda: subprocess.run(["pgrep", "-f", f"serve -c {srv.conf}"],
                                    capture_output=True).returncode == 1,
             timeout=10, what="the killed processes gone")


def received(sink):
    with sink.lock:
        out = {}
        for m in sink.messages:
            n = int(re.search(rb"Subject: crash (\d+)", m.content).group(1))
            sid = re.search(rb"\(sealpost\) with \S+ id (\S+)", m.content).group(1).decode()
            out.setdefault(n, []).append((m.data_time, m.when, sid))
        return out


@pytest.fixture
def world(tmp_path):
    port = free_port_on([SINK])
    with contextlib.ExitStack() as stack:      # stopped even if a start fails
        dns = DnsWorld(tmp_path / "dns", [Zone("example.", signed=True, records=f"""
            sink    MX 10 mx-sink
            mx-sink A  {SINK}
        """)])
        stack.callback(dns.stop)
        sink = Remote(SINK, port, delay=0.005, gate=True)
        stack.callback(sink.stop)
        srv = Server(tmp_path / "srv", services=("smtp", "submission"),
                     users=("alice@example.test",),
                     extra=dns.outbound_conf() +
                     f"port = {port}\nretry_min = 1s\nretry_max = 2s\n"
                     f"max_connections_per_destination = {PER_DEST}\n")
        stack.callback(lambda: srv.proc is not None and srv.kill9())
        yield srv, sink
        if srv.proc is not None:
            srv.check_clean_exit()


def test_kill9_during_delivery_loses_nothing(world):
    srv, sink = world
    acked, cut, kills = set(), set(), []
    numbers = list(range(MESSAGES))

    # 1: killed while users submit (every transaction held at the remote)
    stop = threading.Event()
    threads = submit_all(srv, numbers, acked, cut, stop)
    wait_for(lambda: len(acked) >= MESSAGES // 3, timeout=120, what="a third submitted")
    kill(srv, kills)
    stop.set()
    for t in threads:
        t.join()
    srv.start()
    # the rest, then the remote takes mail at full speed
    stop = threading.Event()
    threads = submit_all(srv, [n for n in numbers if n not in acked], acked, cut, stop)
    for t in threads:
        t.join()
    assert len(acked) == MESSAGES
    sink.gate.set()

    # 2 and 3: killed while the queue drains
    for target in (MESSAGES // 4, MESSAGES // 2):
        wait_for(lambda: len(received(sink)) >= target, timeout=120,
                 what=f"{target} delivered")
        kill(srv, kills)
        srv.start()

    wait_for(lambda: queue_empty(srv) and len(received(sink)) >= MESSAGES,
             timeout=180, what="the queue drained")
    got = received(sink)
    lost = sorted(n for n in acked if n not in got)
    assert lost == [], f"lost {len(lost)}: {lost[:20]}"
    # Queued twice (two ids): only a submission the kill cut.
    twice = {n: copies for n, copies in got.items()
             if len({sid for _, _, sid in copies}) > 1}
    assert set(twice) <= cut, f"queued twice: {twice}; cut {sorted(cut)}"
    assert all(len({sid for _, _, sid in c}) == 2 for c in twice.values()), twice
    sent = {}                  # (number, id) -> copies of that queued message
    for n, copies in got.items():
        for copy in copies:
            sent.setdefault((n, copy[2]), []).append(copy)
    dups = {key: copies for key, copies in sent.items() if len(copies) > 1}
    # A copy the remote took before another one of the same queued
    # message came from the first kill after its final dot: the remote had
    # the whole message before that kill and said 250 at most WINDOW_SECS
    # before it (or after it, to a client already gone), so our record of
    # the 250 could not have been made. A kill explains at most one copy of
    # a message and, as each connection waits for the record of its last
    # transaction before the next, at most one per connection.
    def kill_of(copy):
        dot, said, _ = copy
        k = next((i for i, (k0, k1) in enumerate(kills) if dot <= k1), None)
        return k if k is not None and said >= kills[k][0] - WINDOW_SECS else None

    per_kill, outside = [0] * len(kills), {}
    for key, copies in dups.items():
        ks = [kill_of(c) for c in copies[:-1]]
        if None in ks or len(set(ks)) != len(ks):
            outside[key] = copies
            continue
        for k in ks:
            per_kill[k] += 1
    assert outside == {}, f"duplicates outside the window: {outside}; kills {kills}"
    print(f"duplicates per kill {per_kill}, queued twice {len(twice)} (cut {len(cut)})")
    assert all(n <= PER_DEST for n in per_kill), (per_kill, dups, kills)
    log = srv.log_text()
    assert log.count("queue: started") == 4
    assert "AddressSanitizer" not in log
