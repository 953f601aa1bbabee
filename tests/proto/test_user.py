"""sealpost user add/passwd/del/list/test, through the real binary."""
import os
import pty
import select
import stat
import subprocess
import textwrap
import time

import pytest

from conftest import BIN, run_cli

PASSWORD = "Tr0ub4dor&3 horse"     # has a blank: read as one line, not split
OTHER = "correct battery staple"
FOLDERS = ["", ".Sent", ".Drafts", ".Trash", ".Junk"]


@pytest.fixture
def conf(tmp_path):
    path = tmp_path / "sealpost.conf"
    path.write_text(textwrap.dedent("""\
        hostname = mail.example.test
        domains  = example.test, example.org
        data_dir = data
        """))
    return path


@pytest.fixture
def user(cli, conf):
    """Run `sealpost user ...` against conf; input= is stdin."""
    def _run(*args, input="", **kw):
        return cli("user", *args, "-c", conf, input=input, **kw)
    return _run


def passwd_text(tmp_path):
    return (tmp_path / "data" / "passwd").read_text()


def openssl_passwd(*args):
    return subprocess.run(["openssl", "passwd", *args], check=True,
                          capture_output=True, text=True).stdout.strip()


def assert_secret_absent(results, *secrets):
    for r in results:
        for s in secrets:
            assert s not in r.out and s not in r.err, r


def test_round_trip(user, tmp_path):
    results = []
    r = user("add", "Bob@Example.TEST", input=PASSWORD + "\n")
    results.append(r)
    assert r.rc == 0, r
    mbox = tmp_path / "data/mail/example.test/bob"
    assert r.out == f"bob@example.test: user added; mailbox {mbox}\n"
    assert r.err == ""
    line = passwd_text(tmp_path)
    assert line.startswith("bob@example.test:{CRYPT}$y$")
    assert line.endswith("\n") and line.count("\n") == 1

    r = user("add", "amy@example.org", input=OTHER + "\n")
    results.append(r)
    assert r.rc == 0, r
    r = user("list")
    assert (r.rc, r.out, r.err) == (0, "amy@example.org\nbob@example.test\n", "")

    r = user("test", "bob@example.test", input=PASSWORD + "\n")
    results.append(r)
    assert (r.rc, r.out) == (0, "bob@example.test: password ok\n"), r
    r = user("test", "BOB@example.test", input=OTHER + "\n")
    results.append(r)
    assert (r.rc, r.out) == (1, ""), r
    assert r.err == "sealpost: bob@example.test: authentication failed\n"

    r = user("passwd", "bob@example.test", input=OTHER + "\n")
    results.append(r)
    assert (r.rc, r.out) == (0, "bob@example.test: password changed\n"), r
    assert user("test", "bob@example.test", input=OTHER + "\n").rc == 0
    assert user("test", "bob@example.test", input=PASSWORD + "\n").rc == 1

    r = user("del", "bob@example.test")
    assert r.rc == 0, r
    assert r.out == ("bob@example.test: user deleted\n"
                     f"bob@example.test: mailbox kept at {mbox} "
                     "(remove it by hand when it is no longer needed)\n")
    assert (mbox / "cur").is_dir()
    assert user("list").out == "amy@example.org\n"
    r = user("test", "bob@example.test", input=OTHER + "\n")
    assert r.rc == 1
    assert r.err == "sealpost: bob@example.test: authentication failed\n"
    assert_secret_absent(results, PASSWORD, OTHER)
    assert PASSWORD not in passwd_text(tmp_path)


def test_re_add_keeps_existing_mailbox(user, tmp_path):
    assert user("add", "bob@example.test", input="pw1\n").rc == 0
    msg = tmp_path / "data/mail/example.test/bob/cur/1.eml"
    msg.write_text("Subject: kept\n\nhello\n")
    assert user("del", "bob@example.test").rc == 0
    r = user("add", "bob@example.test", input="pw2\n")
    assert r.rc == 0, r
    assert r.out.endswith("(existing, kept)\n")
    assert msg.read_text() == "Subject: kept\n\nhello\n"


def test_password_file(user, tmp_path):
    pwfile = tmp_path / "pw.txt"
    pwfile.write_text(PASSWORD + "\r\nsecond line is ignored\n")
    r = user("add", "bob@example.test", "--password-file", pwfile)
    assert r.rc == 0, r
    # The first line, CR/LF stripped; stdin is not read at all.
    r = user("test", "bob@example.test", "--password-file", pwfile,
             input="junk\n")
    assert r.rc == 0, r
    r = user("test", "bob@example.test", input=PASSWORD + "\r\n")
    assert r.rc == 0, r
    r = user("test", "bob@example.test", input=PASSWORD)      # no newline
    assert r.rc == 0, r
    r = user("test", "bob@example.test", input="second line is ignored\n")
    assert r.rc == 1
    pwfile.write_text(OTHER)
    r = user("passwd", "bob@example.test", f"--password-file={pwfile}")
    assert r.rc == 0, r
    assert user("test", "bob@example.test", input=OTHER + "\n").rc == 0
    r = user("add", "amy@example.test", "--password-file", tmp_path / "nope")
    assert r.rc == 1
    assert r.err == f"sealpost: {tmp_path}/nope: No such file or directory\n"


def test_password_never_on_command_line(user):
    r = user("add", "bob@example.test", "--password", "x")
    assert r.rc == 2
    assert "unknown option '--password'" in r.err
    r = user("add", "bob@example.test", "secret")
    assert r.rc == 2
    assert "unexpected argument" in r.err


def test_bad_passwords_refused(user, tmp_path):
    for data in ["", "\n", "\r\n"]:
        r = user("add", "bob@example.test", input=data)
        assert r.rc == 1, r
        assert r.err == "sealpost: stdin: empty password refused\n"
    # libxcrypt hashes at most 511 bytes.
    r = user("add", "bob@example.test", input="a" * 512 + "\n")
    assert r.rc == 1
    assert r.err == "sealpost: stdin: the password is longer than 511 bytes\n"
    r = user("add", "bob@example.test", input="pass\0word\n")
    assert r.rc == 1
    assert r.err == "sealpost: stdin: the password holds a NUL byte\n"
    assert not (tmp_path / "data/passwd").exists()
    longest = "b" * 511
    r = user("add", "bob@example.test", input=longest + "\r\n")
    assert r.rc == 0, r
    assert user("test", "bob@example.test", input=longest).rc == 0
    assert user("test", "bob@example.test", input=longest[:-1]).rc == 1


def test_domain_must_be_local(user, conf, tmp_path):
    r = user("add", "bob@example.net", input="pw\n")
    assert r.rc == 1
    assert r.err == (f"sealpost: bob@example.net: domain example.net is not one "
                     f"of the domains in {conf}\n")
    r = user("passwd", "bob@Example.NET", input="pw\n")
    assert r.rc == 1
    assert "domain example.net is not one of the domains" in r.err
    assert not (tmp_path / "data").exists()


def test_invalid_address(user, tmp_path):
    for bad in ["bob", "bob@", "@example.test", "a b@example.test",
                "../x@example.test", "bob@exa_mple.test", "x" * 65 + "@example.test"]:
        r = user("add", bad, input="pw\n")
        assert r.rc == 1, (bad, r)
        assert r.err.startswith(f"sealpost: '{bad}' is not a valid address"), r
    assert not (tmp_path / "data").exists()


def test_existing_user_refused_without_change(user, tmp_path):
    assert user("add", "bob@example.test", input=PASSWORD + "\n").rc == 0
    path = tmp_path / "data/passwd"
    before, ino = path.read_bytes(), path.stat().st_ino
    r = user("add", "BOB@example.test", input=OTHER + "\n")
    assert r.rc == 1
    assert r.err == f"sealpost: bob@example.test: user already exists in {path}\n"
    assert path.read_bytes() == before and path.stat().st_ino == ino
    assert user("test", "bob@example.test", input=PASSWORD + "\n").rc == 0


def test_unknown_user_for_passwd_and_del(user, tmp_path):
    path = tmp_path / "data/passwd"
    for cmd in ["passwd", "del"]:
        r = user(cmd, "nobody@example.test", input="pw\n")
        assert r.rc == 1
        assert r.err == f"sealpost: nobody@example.test: no such user in {path}\n"
    assert user("add", "bob@example.test", input="pw\n").rc == 0
    before = path.read_bytes()
    for cmd in ["passwd", "del"]:
        r = user(cmd, "nobody@example.test", input="pw\n")
        assert r.rc == 1
        assert r.err == f"sealpost: nobody@example.test: no such user in {path}\n"
    assert path.read_bytes() == before


def test_maildir_layout(user, tmp_path):
    assert user("add", "bob@example.test", input="pw\n").rc == 0
    root = tmp_path / "data/mail/example.test/bob"
    for folder in FOLDERS:
        for sub in ["", "cur", "new", "tmp"]:
            p = root / folder / sub
            assert p.is_dir(), p
            assert stat.S_IMODE(p.stat().st_mode) == 0o700, p
    assert (root / ".Sent/maildirfolder").is_file()
    mode = stat.S_IMODE((tmp_path / "data/passwd").stat().st_mode)
    assert mode == 0o600


def test_dovecot_file(user, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    sha512 = openssl_passwd("-6", "s3cret-six")
    sha512b = openssl_passwd("-6", "-salt", "saltsalt", "other-six")
    sha256 = openssl_passwd("-5", "s3cret-five")
    (data / "passwd").write_text(
        "# imported from Dovecot\n"
        f"six@example.test:{sha512}\n"
        f"Pre@Example.test:{{SHA512-CRYPT}}{sha512b}:1000:1000::/home/pre::userdb_mail=maildir:~/Maildir\n"
        f"five@example.test:{{SHA256-CRYPT}}{sha256}::::::\n")
    assert user("test", "six@example.test", input="s3cret-six\n").rc == 0
    assert user("test", "six@example.test", input="other-six\n").rc == 1
    r = user("test", "pre@example.test", input="other-six\n")
    assert (r.rc, r.err) == (0, ""), r
    assert user("test", "five@example.test", input="s3cret-five\n").rc == 0
    r = user("list")
    assert r.out == "five@example.test\npre@example.test\nsix@example.test\n"
    # A new password keeps the extra fields and writes yescrypt.
    assert user("passwd", "pre@example.test", input="new\n").rc == 0
    lines = passwd_text(tmp_path).splitlines()
    assert lines[0] == "# imported from Dovecot"
    assert lines[1] == f"six@example.test:{sha512}"
    assert lines[2].startswith("Pre@Example.test:{CRYPT}$y$")
    assert lines[2].endswith(":1000:1000::/home/pre::userdb_mail=maildir:~/Maildir")
    assert user("test", "pre@example.test", input="new\n").rc == 0


def test_refused_line_reported_others_work(user, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    good = openssl_passwd("-6", "goodpw")
    path = data / "passwd"
    path.write_text(f"good@example.test:{good}\n"
                    "\n"
                    "plain@example.test:{PLAIN}plainpw\n"
                    "garbage\n")
    warn = (f"sealpost: {path}:3: plain@example.test: password scheme {{PLAIN}} "
            f"is refused (plain text or weak hash); set a new password with "
            f"'sealpost user passwd plain@example.test'\n"
            f"sealpost: {path}:4: no password field (expected ADDRESS:{{CRYPT}}HASH)\n")
    r = user("test", "good@example.test", input="goodpw\n")
    assert (r.rc, r.out, r.err) == (0, "good@example.test: password ok\n", warn)
    r = user("test", "plain@example.test", input="plainpw\n")
    assert r.rc == 1
    assert r.err == warn + "sealpost: plain@example.test: authentication failed\n"
    r = user("list")
    assert (r.rc, r.out, r.err) == (0, "good@example.test\n", warn)
    # The refused user exists as far as add is concerned; passwd repairs it.
    assert user("add", "plain@example.test", input="x\n").rc == 1
    assert user("passwd", "plain@example.test", input="fixed\n").rc == 0
    r = user("test", "plain@example.test", input="fixed\n")
    assert r.rc == 0
    assert "plainpw" not in passwd_text(tmp_path)
    assert "{PLAIN}" not in r.err and ":4: no password field" in r.err


def test_parallel_adds_all_land(conf, tmp_path):
    n = 10
    procs = [subprocess.Popen([BIN, "user", "add", f"user{i}@example.test", "-c", conf],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, cwd=tmp_path)
             for i in range(n)]
    for i, p in enumerate(procs):
        out, err = p.communicate(f"pw{i}\n".encode(), timeout=120)
        assert p.returncode == 0, err
    r = run_cli("user", "list", "-c", conf)
    assert r.out.split() == sorted(f"user{i}@example.test" for i in range(n))
    assert sorted(os.listdir(tmp_path / "data")) == ["mail", "passwd", "passwd.lock"]
    assert len(os.listdir(tmp_path / "data/mail/example.test")) == n
    r = run_cli("user", "test", "user7@example.test", "-c", conf, input="pw7\n")
    assert r.rc == 0, r


def test_no_temp_files_left(user, tmp_path):
    assert user("add", "bob@example.test", input="a\n").rc == 0
    assert user("add", "amy@example.test", input="b\n").rc == 0
    assert user("passwd", "bob@example.test", input="c\n").rc == 0
    assert user("del", "amy@example.test").rc == 0
    assert sorted(os.listdir(tmp_path / "data")) == ["mail", "passwd", "passwd.lock"]


def test_usage_errors(user):
    assert user("add").rc == 2
    assert user("del", "a@example.test", "b@example.test").rc == 2
    assert user("list", "x").rc == 2
    assert user("frobnicate").rc == 2


@pytest.mark.skipif(os.geteuid() != 0, reason="chown needs root")
def test_ownership_as_root(cli, tmp_path):
    # `daemon` (uid 1) exists on every Debian system: no throwaway user needed.
    conf = tmp_path / "s.conf"
    conf.write_text("domains = example.test\ndata_dir = data\nuser = daemon\n")
    r = cli("user", "add", "bob@example.test", "-c", conf, input="pw\n")
    assert r.rc == 0, r
    data = tmp_path / "data"
    owned = [data, data / "passwd", data / "passwd.lock", data / "mail",
             data / "mail/example.test"]
    root = data / "mail/example.test/bob"
    owned += [root / f / s for f in FOLDERS for s in ["", "cur", "new", "tmp"]]
    owned += [root / ".Junk/maildirfolder"]
    for p in owned:
        st = p.stat()
        assert (st.st_uid, st.st_gid) == (1, 1), p
    assert cli("user", "passwd", "bob@example.test", "-c", conf,
               input="pw2\n").rc == 0
    st = (data / "passwd").stat()
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (1, 1, 0o600)

    conf.write_text("domains = example.test\ndata_dir = data\n"
                    "user = no-such-user-here\n")
    r = cli("user", "add", "amy@example.test", "-c", conf, input="pw\n")
    assert r.rc == 1
    assert r.err == f"sealpost: {conf}: user: no such system user 'no-such-user-here'\n"


def read_until(fd, text, timeout=30):
    buf = b""
    end = time.monotonic() + timeout
    while text.encode() not in buf:
        left = end - time.monotonic()
        assert left > 0, f"timed out waiting for {text!r}; got {buf!r}"
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            try:
                chunk = os.read(fd, 1024)
            except OSError:
                break
            if not chunk:
                break
            buf += chunk
    return buf


def run_on_tty(args, answers, cwd):
    """Run the binary with a terminal as stdin and stderr; type answers
    after each prompt. Returns (rc, stdout, terminal output)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([BIN, *map(str, args)], stdin=slave, stderr=slave,
                            stdout=subprocess.PIPE, cwd=cwd)
    os.close(slave)
    seen = b""
    try:
        for prompt, answer in answers:
            seen += read_until(master, prompt)
            os.write(master, answer.encode() + b"\n")
        out, _ = proc.communicate(timeout=60)
        seen += read_until(master, "\n", timeout=5)
    finally:
        os.close(master)
    return proc.returncode, out.decode(), seen.decode(errors="replace")


def test_terminal_prompts_without_echo(conf, tmp_path):
    rc, out, tty = run_on_tty(
        ["user", "add", "bob@example.test", "-c", conf],
        [("New password for bob@example.test: ", PASSWORD),
         ("Retype the password: ", PASSWORD)], tmp_path)
    assert rc == 0, tty
    assert out.startswith("bob@example.test: user added")
    assert PASSWORD not in tty
    r = run_cli("user", "test", "bob@example.test", "-c", conf,
                input=PASSWORD + "\n")
    assert r.rc == 0

    rc, out, tty = run_on_tty(
        ["user", "passwd", "bob@example.test", "-c", conf],
        [("New password for bob@example.test: ", OTHER),
         ("Retype the password: ", OTHER + "x")], tmp_path)
    assert rc == 1
    assert "sealpost: the passwords do not match" in tty
    assert OTHER not in tty
    assert run_cli("user", "test", "bob@example.test", "-c", conf,
                   input=PASSWORD + "\n").rc == 0

    rc, out, tty = run_on_tty(
        ["user", "test", "bob@example.test", "-c", conf],
        [("Password for bob@example.test: ", PASSWORD)], tmp_path)
    assert (rc, out) == (0, "bob@example.test: password ok\n"), tty
