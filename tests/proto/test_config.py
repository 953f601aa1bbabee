"""check-config and config loading, through the real binary."""
import textwrap


def write(path, text):
    path.write_text(textwrap.dedent(text))
    return path


def test_check_config_ok(cli, tmp_path):
    conf = write(tmp_path / "s.conf", """\
        hostname    = mail.example.test
        domains     = example.test, example.org
        data_dir    = data
        certs_dir   = certs
        certificate = mail
        user        = sealpost        # started as root: drop to this user

        [listen]                      # a service that is not listed is off
        smtp       = 127.0.0.1:25     #   several addresses: comma-separated
        submission = 127.0.0.1:587, [::1]:587

        [tls]
        min_version = TLSv1.2

        [limits]
        max_message_size = 26214400
        """)
    r = cli("check-config", "-c", conf)
    assert r.rc == 1        # listeners need the certificate pair
    assert f"{tmp_path}/certs/mail.crt" in r.err
    assert cli("cert", "create", "mail", "--cn", "mail.example.test",
               "--type", "ecdsa", "-c", conf).rc == 0
    r = cli("check-config", "-c", conf)
    assert r.rc == 0, r
    assert f"{conf}: ok" in r.out
    assert f"data_dir    {tmp_path}/data" in r.out
    assert "listen      submission [::1]:587" in r.out


def test_unknown_key_names_file_and_line(cli, tmp_path):
    conf = write(tmp_path / "s.conf", "domains = a.test\n\nfoo = bar\n")
    r = cli("check-config", "-c", conf)
    assert r.rc == 1
    assert r.err == f"sealpost: {conf}:3: unknown setting 'foo'\n"


def test_bad_value_names_file_and_line(cli, tmp_path):
    conf = write(tmp_path / "s.conf", "[limits]\nmax_message_size = lots\n")
    r = cli("check-config", "-c", conf)
    assert r.rc == 1
    assert r.err.startswith(f"sealpost: {conf}:2: max_message_size: 'lots'")


def test_env_variable_and_missing_file(cli, tmp_path):
    conf = write(tmp_path / "e.conf", "domains = a.test\n")
    r = cli("check-config", env={"SEALPOST_CONF": str(conf)})
    assert r.rc == 0, r
    assert f"{conf}: ok" in r.out
    r = cli("check-config", "-c", tmp_path / "none.conf")
    assert r.rc == 1
    assert r.err == f"sealpost: {tmp_path}/none.conf: No such file or directory\n"


def test_semantic_problem_reported(cli, tmp_path):
    conf = write(tmp_path / "s.conf", "hostname = mx.a.test\n")
    r = cli("check-config", "-c", conf)
    assert r.rc == 1
    assert "domains: no local domain is set" in r.err


def test_usage_errors_exit_2(cli):
    assert cli("no-such-command").rc == 2
    r = cli("check-config", "--bogus")
    assert r.rc == 2
    assert "unknown option '--bogus'" in r.err
    r = cli()
    assert r.rc == 2


def test_check_config_reports_passwd_problems(cli, tmp_path):
    conf = write(tmp_path / "s.conf", "domains = example.test\n")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "passwd").write_text(
        "ok@example.test:{CRYPT}$6$abcdefgh$" + "a" * 86 + "\n"
        "bad@example.test:{PLAIN}secret\n")
    r = cli("check-config", "-c", conf)
    assert r.rc == 1
    assert f"{tmp_path}/data/passwd:2:" in r.err
