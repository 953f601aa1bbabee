#!/usr/bin/env python3
"""Before the suite starts: can every external client the tests call speak
what the tests ask of it?

A client that is installed but lacks TLS (swaks without Net::SSLeay, which
Debian's swaks only recommends) would otherwise fail one test in the middle
of the run. Each check runs the client's own self-report and, when it falls
short, prints one line naming the Debian package to install:

    sealpost: preflight: swaks cannot speak TLS (`swaks --support`): install libnet-ssleay-perl (scripts/install-deps.sh)

Run alone: python3 tests/preflight.py (exit 0 when everything is there).
"""
import os
import re
import shutil
import subprocess
import sys


CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"


def _run(argv):
    """stdout+stderr of argv, or None when the program is missing."""
    if shutil.which(argv[0]) is None:
        return None
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=30,
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout + proc.stderr


def _python_ssl():
    try:
        import ssl
    except ImportError:
        return False
    return ssl.HAS_TLSv1_3 and ssl.OPENSSL_VERSION_INFO[0] >= 3


def _python_module(name):
    try:
        __import__(name)
    except ImportError:
        return False
    return True


def _curl_ok(out):
    features = re.search(r"^Features:(.*)$", out, re.M)
    protocols = re.search(r"^Protocols:(.*)$", out, re.M)
    return (features is not None and " SSL" in features.group(1)
            and protocols is not None
            and {"smtps", "pop3s", "imaps"} <= set(protocols.group(1).split()))


# The DNS tests' authoritative server (tests/proto/dnsworld.py); in sbin,
# which a user's PATH may lack.
NSD = "/usr/sbin/nsd"
# Postfix's test sink (the outbound benchmark, bench/outbound_bench.py).
SMTP_SINK = "/usr/sbin/smtp-sink"
# bench/smtp_ab.py --fresh-fs (test_bench runs it as root).
MKFS_EXT4 = "/usr/sbin/mkfs.ext4"

# The Debian package that ships each program the tests run.
PROGRAM_PACKAGE = {"swaks": "swaks", "curl": "curl", "fetchmail": "fetchmail",
                   "openssl": "openssl", "pgrep": "procps", "pkill": "procps",
                   NSD: "nsd", "ldns-keygen": "ldnsutils",
                   "ldns-signzone": "ldnsutils", SMTP_SINK: "postfix",
                   "strace": "strace", MKFS_EXT4: "e2fsprogs", "mount": "mount"}

# (what is wrong when the check fails, the program's self-report, is it
# enough?, the package that supplies it when the program is there but falls
# short)
CHECKS = [
    ("swaks cannot speak TLS", ["swaks", "--support"],
     lambda o: "TLS supported" in o, "libnet-ssleay-perl"),
    ("swaks cannot AUTH", ["swaks", "--support"],
     lambda o: "Basic AUTH supported" in o, "swaks"),
    ("curl cannot speak TLS for SMTP, POP3 and IMAP", ["curl", "-V"], _curl_ok, "curl"),
    ("fetchmail cannot speak TLS", ["fetchmail", "--version"],
     lambda o: "+SSL" in o, "fetchmail"),
    ("openssl has no s_client -starttls", ["openssl", "s_client", "-help"],
     lambda o: "-starttls" in o, "openssl"),
    ("pgrep is missing", ["pgrep", "--version"], lambda o: "procps" in o, "procps"),
    ("pkill is missing", ["pkill", "--version"], lambda o: "procps" in o, "procps"),
    ("ss is missing (which worker holds a socket)", ["ss", "-V"],
     lambda o: "iproute2" in o, "iproute2"),
    ("nsd 4 is missing (DNS tests)", [NSD, "-v"], lambda o: "NSD version 4" in o, "nsd"),
    ("ldns-keygen is missing (DNS tests)", ["ldns-keygen", "-v"],
     lambda o: "ldns version" in o, "ldnsutils"),
    ("ldns-signzone is missing (DNS tests)", ["ldns-signzone", "-v"],
     lambda o: "ldns version" in o, "ldnsutils"),
    ("strace is missing (bench/smtp_ab.py --syscalls)", ["strace", "-V"],
     lambda o: "strace" in o, "strace"),
    ("mkfs.ext4 is missing (bench/smtp_ab.py --fresh-fs)", [MKFS_EXT4, "-V"],
     lambda o: "mke2fs" in o, "e2fsprogs"),
    ("mount is missing (bench/smtp_ab.py --fresh-fs)", ["mount", "-V"],
     lambda o: "util-linux" in o, "mount"),
    # smtp-sink has no version option: its usage line names it.
    ("smtp-sink is missing (outbound benchmark)", [SMTP_SINK],
     lambda o: "smtp-sink" in o or "usage" in o.lower(), "postfix"),
]
# (what is wrong when the check fails, a check in this process, the package)
PYTHON_CHECKS = [
    ("Python's ssl module lacks TLS 1.3 on OpenSSL 3", _python_ssl, "python3"),
    ("pytest is missing for Python 3", lambda: _python_module("pytest"), "python3-pytest"),
    ("the system's CA bundle is missing",
     lambda: os.path.getsize(CA_BUNDLE) > 0 if os.path.exists(CA_BUNDLE) else False,
     "ca-certificates"),
    ("dnslib is missing for Python 3 (DNS tests)", lambda: _python_module("dnslib"), "python3-dnslib"),
    ("aiosmtpd is missing for Python 3 (outbound tests)",
     lambda: _python_module("aiosmtpd"), "python3-aiosmtpd"),
]


def _line(what, why, package):
    return (f"sealpost: preflight: {what} ({why}): install {package} "
            "(scripts/install-deps.sh)")


def problems():
    """One line per missing capability, naming its package."""
    out = []
    for what, argv, enough, package in CHECKS:
        report = _run(argv)
        if report is None:
            out.append(_line(what, f"no `{argv[0]}`",
                             PROGRAM_PACKAGE[argv[0]]))
        elif not enough(report):
            out.append(_line(what, f"`{' '.join(argv)}`", package))
    for what, check, package in PYTHON_CHECKS:
        if not check():
            out.append(_line(what, "checked in Python", package))
    return out


def main():
    lines = problems()
    for line in lines:
        print(line, file=sys.stderr)
    return 1 if lines else 0


if __name__ == "__main__":
    sys.exit(main())
