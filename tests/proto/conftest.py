"""Shared pytest fixtures: the binary under test and a CLI runner."""
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.abspath(os.environ.get("SEALPOST_BIN", os.path.join(ROOT, "build/sealpost")))


class Result:
    def __init__(self, proc):
        self.rc = proc.returncode
        self.out = proc.stdout
        self.err = proc.stderr

    def __repr__(self):
        return f"<rc={self.rc} out={self.out!r} err={self.err!r}>"


def run_cli(*args, cwd=None, input=None, env=None, timeout=120):
    """Run build/sealpost with args; returns Result(rc, out, err)."""
    full_env = dict(os.environ)
    full_env.pop("SEALPOST_CONF", None)
    if env:
        full_env.update(env)
    proc = subprocess.run([BIN, *map(str, args)], cwd=cwd, input=input,
                          capture_output=True, text=True, env=full_env,
                          timeout=timeout)
    return Result(proc)


@pytest.fixture
def cli(tmp_path):
    """Run the CLI with tmp_path as the working folder."""
    def _run(*args, **kw):
        kw.setdefault("cwd", tmp_path)
        return run_cli(*args, **kw)
    return _run


@pytest.fixture(scope="module")
def smtp_server(tmp_path_factory):
    """One server for a test module: smtp, submission, smtps."""
    from mailserver import Server
    srv = Server(tmp_path_factory.mktemp("srv"),
                 users=("alice@example.test", "bob@example.test", "carol@example.org"))
    yield srv
    srv.check_clean_exit()


@pytest.fixture
def make_server(tmp_path):
    """Start a server with custom settings; checked for a clean exit."""
    from mailserver import Server
    servers = []

    def _make(**kw):
        srv = Server(tmp_path / f"srv{len(servers)}", **kw)
        servers.append(srv)
        return srv
    yield _make
    for srv in servers:
        if srv.proc is not None:
            srv.check_clean_exit()


@pytest.fixture
def dns_world(tmp_path):
    """Start DNS worlds (tests/proto/dnsworld.py): dns_world(zones, ...)."""
    from dnsworld import DnsWorld
    worlds = []

    def _make(zones, **kw):
        world = DnsWorld(tmp_path / f"dns{len(worlds)}", zones, **kw)
        worlds.append(world)
        return world
    yield _make
    for world in worlds:
        world.stop()
