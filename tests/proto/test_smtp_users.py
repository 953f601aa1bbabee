"""RCPT answers from the accounts in memory while the passwd file is known
unchanged (an inotify watch on data_dir in each worker): every change to
the file, by the CLI, by an editor writing in place, through a symlink,
counts for the very next RCPT."""
import os
import shutil
import subprocess

import pytest

from conftest import run_cli
from mailserver import Raw

ROUNDS = 5


def session(srv):
    c = Raw(srv.ports["smtp"])
    assert c.reply()[0].startswith(b"220")
    c.cmd("EHLO client.test")
    return c


def rcpt(c, address):
    """The reply code to RCPT TO:<address> in a fresh transaction."""
    assert c.cmd("RSET") == [b"250 2.0.0 Ok"]
    assert c.cmd("MAIL FROM:<s@remote.test>")[0].startswith(b"250")
    return c.cmd(f"RCPT TO:<{address}>")[0][:3]


def test_cli_changes_count_for_the_next_rcpt(make_server):
    srv = make_server(users=("alice@example.test",), workers=1)
    c = session(srv)
    for _ in range(ROUNDS):
        assert rcpt(c, "alice@example.test") == b"250"
        assert rcpt(c, "alice@example.test") == b"250"    # from memory
        assert rcpt(c, "bob@example.test") == b"550"
        srv.add_user("bob@example.test")
        assert rcpt(c, "bob@example.test") == b"250"
        assert rcpt(c, "bob@example.test") == b"250"
        r = run_cli("user", "del", "bob@example.test", "-c", srv.conf)
        assert r.rc == 0, r
        assert rcpt(c, "bob@example.test") == b"550"
        assert rcpt(c, "alice@example.test") == b"250"
    c.close()


def line_of(passwd, address):
    with open(passwd, "rb") as f:
        return next(line for line in f if line.startswith(address.encode() + b":"))


def test_file_edited_in_place(make_server):
    """An editor that rewrites the file where it is (no rename)."""
    srv = make_server(users=("alice@example.test",), workers=1)
    passwd = os.path.join(srv.data, "passwd")
    alice = line_of(passwd, "alice@example.test")
    c = session(srv)
    for i in range(ROUNDS):
        assert rcpt(c, "alice@example.test") == b"250"
        assert rcpt(c, f"dave{i}@example.test") == b"550"
        with open(passwd, "r+b") as f:        # same inode, same size + more
            f.seek(0, os.SEEK_END)
            f.write(alice.replace(b"alice@", f"dave{i}@".encode()))
        assert rcpt(c, f"dave{i}@example.test") == b"250"
        with open(passwd, "r+b") as f:        # truncated back to alice only
            f.write(alice)
            f.truncate()
        assert rcpt(c, f"dave{i}@example.test") == b"550"
        assert rcpt(c, "alice@example.test") == b"250"
    c.close()


def test_symlinked_file(make_server, tmp_path):
    """data_dir/passwd a symlink to a file elsewhere, changed there: the
    folder's events do not tell, so every lookup reads the file."""
    srv = make_server(users=("alice@example.test",), workers=1)
    passwd = os.path.join(srv.data, "passwd")
    elsewhere = tmp_path / "etc"
    elsewhere.mkdir()
    target = elsewhere / "passwd"
    shutil.copy(passwd, target)
    os.chmod(target, 0o644)
    alice = line_of(passwd, "alice@example.test")
    os.unlink(passwd)
    os.symlink(target, passwd)
    c = session(srv)
    for i in range(ROUNDS):
        assert rcpt(c, "alice@example.test") == b"250"
        assert rcpt(c, "alice@example.test") == b"250"
        assert rcpt(c, f"erin{i}@example.test") == b"550"
        tmp = elsewhere / "passwd.new"
        tmp.write_bytes(alice + alice.replace(b"alice@", f"erin{i}@".encode()))
        os.chmod(tmp, 0o644)
        os.rename(tmp, target)                # the symlink's folder sees nothing
        assert rcpt(c, f"erin{i}@example.test") == b"250"
        tmp.write_bytes(alice)
        os.chmod(tmp, 0o644)
        os.rename(tmp, target)
        assert rcpt(c, f"erin{i}@example.test") == b"550"
    c.close()


def test_bind_mounted_file(make_server, tmp_path):
    """data_dir/passwd a file bind-mounted from elsewhere (a container's
    single-file volume), edited there in place: data_dir's events do not
    tell, so every lookup reads the file."""
    if os.geteuid() != 0:
        pytest.skip("mount --bind needs root")
    srv = make_server(users=("alice@example.test",), workers=1)
    passwd = os.path.join(srv.data, "passwd")
    source = tmp_path / "volume-passwd"
    shutil.copy(passwd, source)
    os.chmod(source, 0o644)
    alice = line_of(passwd, "alice@example.test")
    subprocess.run(["mount", "--bind", str(source), passwd], check=True)
    try:
        c = session(srv)
        for i in range(ROUNDS):
            assert rcpt(c, "alice@example.test") == b"250"
            assert rcpt(c, "alice@example.test") == b"250"
            assert rcpt(c, f"finn{i}@example.test") == b"550"
            with open(source, "r+b") as f:
                f.seek(0, os.SEEK_END)
                f.write(alice.replace(b"alice@", f"finn{i}@".encode()))
            assert rcpt(c, f"finn{i}@example.test") == b"250"
            with open(source, "r+b") as f:
                f.write(alice)
                f.truncate()
            assert rcpt(c, f"finn{i}@example.test") == b"550"
        c.close()
    finally:
        subprocess.run(["umount", passwd], check=False)
