"""The credential cache (auth_cache_ttl): a repeated login skips the
password hash, a changed or removed user counts at once, a wrong password
costs the full hash, failures are never cached."""
import base64
import os
import time

import pytest

from conftest import run_cli
from mailserver import PASSWORD, Raw, Server


def b64(s):
    return base64.b64encode(s.encode()).decode()


def auth(srv, user, password):
    """One connection on submission: STARTTLS, AUTH PLAIN; the reply code."""
    c = Raw(srv.ports["submission"])
    c.reply()
    c.cmd("EHLO client.test")
    c.cmd("STARTTLS")
    c.starttls(srv.client_context())
    c.cmd("EHLO client.test")
    code = c.cmd("AUTH PLAIN " + b64(f"\0{user}\0{password}"))[0][:3]
    c.cmd("QUIT")
    c.close()
    return code


def ok_lines(srv, user, want=1):
    """The log's "auth ok" lines of user, in order, once there are at least
    want of them (log lines are written by a thread of their own: the reply
    can reach the client a moment before its line reaches the file)."""
    deadline = time.time() + 5
    while True:
        lines = [line for line in srv.log_text().splitlines()
                 if f'auth ok user="{user}"' in line]
        if len(lines) >= want or time.time() > deadline:
            return lines
        time.sleep(0.02)


def workers_cpu(srv):
    """CPU seconds used so far by the threads of the server's worker
    processes (schedstat: nanoseconds, not clock ticks)."""
    total = 0
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                stat = f.read()
            if int(stat[stat.rindex(")") + 2:].split()[1]) != srv.proc.pid:
                continue
            for tid in os.listdir(f"/proc/{name}/task"):
                with open(f"/proc/{name}/task/{tid}/schedstat") as f:
                    total += int(f.read().split()[0])
        except OSError:
            continue
    return total / 1e9


def cpu_of(srv, fn):
    before = workers_cpu(srv)
    fn()
    return workers_cpu(srv) - before


@pytest.fixture
def srv(tmp_path):
    s = Server(tmp_path, services=("submission",),
               users=("alice@example.test", "bob@example.test",
                      "carol@example.test"))
    yield s
    s.check_clean_exit()


def test_second_login_is_cached(srv):
    assert auth(srv, "alice@example.test", PASSWORD) == b"235"
    for _ in range(4):
        assert auth(srv, "Alice@Example.test", PASSWORD) == b"235"
    lines = ok_lines(srv, "alice@example.test", want=5)
    assert len(lines) == 5
    assert "cached=yes" not in lines[0]
    # Both workers share one table: every later login is a hit, whichever
    # worker took it.
    assert all(line.endswith("cached=yes") for line in lines[1:]), lines


def test_failure_is_not_cached_and_password_change_counts_at_once(srv, tmp_path):
    assert auth(srv, "bob@example.test", "wrong") == b"535"
    assert auth(srv, "bob@example.test", PASSWORD) == b"235"
    assert "cached=yes" not in ok_lines(srv, "bob@example.test")[0]
    assert auth(srv, "bob@example.test", PASSWORD) == b"235"
    assert ok_lines(srv, "bob@example.test", want=2)[-1].endswith("cached=yes")
    # A new password: the cached one is refused at the next login.
    r = run_cli("user", "passwd", "bob@example.test", "-c", srv.conf,
                input="new secret words\n")
    assert r.rc == 0, r
    assert auth(srv, "bob@example.test", PASSWORD) == b"535"
    assert auth(srv, "bob@example.test", "new secret words") == b"235"
    assert "cached=yes" not in ok_lines(srv, "bob@example.test", want=3)[-1]


def test_removed_user_is_refused_at_once(srv):
    assert auth(srv, "carol@example.test", PASSWORD) == b"235"
    assert auth(srv, "carol@example.test", PASSWORD) == b"235"
    assert ok_lines(srv, "carol@example.test", want=2)[-1].endswith("cached=yes")
    r = run_cli("user", "del", "carol@example.test", "-c", srv.conf)
    assert r.rc == 0, r
    assert auth(srv, "carol@example.test", PASSWORD) == b"535"
    # Added again with the same password: a new hash, verified in full.
    srv.add_user("carol@example.test")
    assert auth(srv, "carol@example.test", PASSWORD) == b"235"
    assert "cached=yes" not in ok_lines(srv, "carol@example.test", want=3)[-1]


def test_wrong_password_of_a_cached_user_costs_the_full_hash(srv):
    """Server CPU per login attempt: a cached user's wrong password costs a
    yescrypt run like an uncached user's; only the right password of a
    cached user is cheap."""
    assert auth(srv, "alice@example.test", PASSWORD) == b"235"
    cached_right = min(cpu_of(srv, lambda: auth(srv, "alice@example.test",
                                                PASSWORD)) for _ in range(3))
    cached_wrong = cpu_of(srv, lambda: auth(srv, "alice@example.test", "nope"))
    uncached_wrong = cpu_of(srv, lambda: auth(srv, "bob@example.test", "nope"))
    assert ok_lines(srv, "alice@example.test", want=4)[-1].endswith("cached=yes")
    figures = (f"cached right {cached_right * 1e3:.0f} ms, cached wrong "
               f"{cached_wrong * 1e3:.0f} ms, uncached wrong "
               f"{uncached_wrong * 1e3:.0f} ms")
    assert cached_wrong >= 0.6 * uncached_wrong, figures
    assert cached_right <= 0.5 * uncached_wrong, figures


def test_ttl_zero_turns_the_cache_off(tmp_path):
    s = Server(tmp_path, services=("submission",), extra="auth_cache_ttl = 0")
    try:
        for _ in range(3):
            assert auth(s, "alice@example.test", PASSWORD) == b"235"
        lines = ok_lines(s, "alice@example.test", want=3)
        assert len(lines) == 3 and not any("cached" in l for l in lines)
    finally:
        s.check_clean_exit()


def test_ttl_out_of_range_is_refused(tmp_path):
    conf = tmp_path / "sealpost.conf"
    conf.write_text("domains = example.test\nauth_cache_ttl = 90000\n")
    r = run_cli("check-config", "-c", conf)
    assert r.rc == 1
    assert "auth_cache_ttl" in r.err and ":2:" in r.err, r
