#!/bin/sh
# Install the Debian 12 packages sealpost builds and tests with, when missing.
# Runs apt-get as root (or through sudo); prints what it installs.
#
# Installed with --no-install-recommends, so every package a command or a
# test needs is named here, including what a client only *recommends* but
# needs for what we ask of it:
#   swaks       -> libnet-ssleay-perl (swaks --tls / --tlsc; without it:
#                  "TLS not available: requires Net::SSLeay")
#   curl        -> TLS is built in (libcurl4 with OpenSSL); ca-certificates
#   fetchmail   -> SSL is built in; ca-certificates
#   python3     -> ssl, smtplib, imaplib, poplib are in libpython3.11-stdlib
#   tests       -> procps (pgrep, pkill), openssl (the command)
#   libunbound  -> dns-root-data (the DNSSEC root key sealpost validates
#                  with when no trust_anchor is set; libunbound only
#                  recommends it)
#   DNS tests   -> nsd (authoritative server), ldnsutils (ldns-keygen,
#                  ldns-signzone), python3-dnslib; see tests/proto/dnsworld.py
#   outbound    -> python3-aiosmtpd (the remote MXes of the outbound tests,
#                  tests/proto/outbound_world.py); postfix (below) also
#                  gives the outbound tests smtpd and smtp-sink, and is what
#                  bench/outbound_bench.py compares with
#   bench       -> postfix, dovecot-core + dovecot-imapd: the peers that
#                  `make bench BENCH_ARGS=--peers` runs beside sealpost, from
#                  its own configs under bench/conf/ (never /etc's)
# Postfix is preseeded to "No configuration" (no main.cf: nothing starts on
# port 25), and a system service a package started while this script
# installed it is stopped and disabled again.
# tests/preflight.py checks each of these before the test suite starts and
# names the package that is missing.
set -eu

# Build: compiler, libraries and their headers.
BUILD_PKGS="gcc make pkg-config libc6-dev libssl-dev openssl libevent-dev
libinih-dev libcrypt-dev zlib1g-dev libcmocka-dev clang libclang-rt-14-dev
libunbound-dev dns-root-data"
# Tests and the demo's printed commands: the clients and what they need.
TEST_PKGS="python3 python3-pytest procps iproute2 curl swaks libnet-ssleay-perl
fetchmail ca-certificates nsd ldnsutils python3-dnslib python3-aiosmtpd"
# The benchmark's peers (bench/peers.py), strace for bench/smtp_ab.py
# --syscalls, mkfs.ext4 and mount for its --fresh-fs.
BENCH_PKGS="postfix dovecot-core dovecot-imapd strace e2fsprogs mount"
PKGS="$BUILD_PKGS $TEST_PKGS $BENCH_PKGS"

# The unprivileged account `sealpost serve` drops to (config key `user`).
ensure_user() {
    if [ "$(id -u)" -eq 0 ] && ! id sealpost >/dev/null 2>&1; then
        echo "sealpost: creating system user sealpost" >&2
        useradd --system --home-dir /nonexistent --no-create-home \
            --shell /usr/sbin/nologin sealpost
    fi
}

# The tests run nsd as their own process on a loopback port. On a systemd
# machine the package also enables and starts nsd.service (answering on
# port 53 for no zone): a mail server does not want that, so when this run
# installed nsd, its service is stopped and disabled again.
quiet_nsd() {
    case " $missing " in *" nsd "*) ;; *) return 0 ;; esac
    if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
        $SUDO systemctl disable --now nsd.service >/dev/null 2>&1 || true
    fi
}

# Stop and disable a system mail service that its package started while
# this script installed it. $1: service, $2: its master's pid file.
stop_started_service() {
    svc=$1 pidfile=$2
    running=""
    if [ -s "$pidfile" ] && $SUDO kill -0 "$($SUDO cat "$pidfile" | tr -d ' ')" 2>/dev/null; then
        running=yes
    fi
    if [ -d /run/systemd/system ] && systemctl is-active --quiet "$svc.socket" 2>/dev/null; then
        running=yes
    fi
    [ -n "$running" ] || return 0
    echo "sealpost: the $svc package started a system $svc: stopping and disabling it" \
         "(make bench runs its own; sealpost's tests need ports free)" >&2
    if [ -d /run/systemd/system ]; then
        $SUDO systemctl disable --now "$svc.service" >/dev/null 2>&1 || true
        $SUDO systemctl disable --now "$svc.socket" >/dev/null 2>&1 || true
    else
        $SUDO "/etc/init.d/$svc" stop >/dev/null 2>&1 || true
        $SUDO update-rc.d "$svc" disable >/dev/null 2>&1 || true
    fi
}

missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
if [ -z "$missing" ]; then
    ensure_user
    exit 0
fi

echo "sealpost: installing missing packages:$missing" >&2
if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
else
    echo "sealpost: missing packages:$missing (run this script as root)" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
case " $missing " in
*" postfix "*)
    # No system Postfix configuration: nothing to start on port 25.
    echo "postfix postfix/main_mailer_type select No configuration" |
        $SUDO debconf-set-selections
    ;;
esac
$SUDO apt-get update -qq
# shellcheck disable=SC2086
if ! $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null; then
    echo "sealpost: apt-get install failed for:$missing" >&2
    exit 1
fi
quiet_nsd
case " $missing " in
*" postfix "*) stop_started_service postfix /var/spool/postfix/pid/master.pid ;;
esac
case " $missing " in
*" dovecot-core "* | *" dovecot-imapd "*) stop_started_service dovecot /run/dovecot/master.pid ;;
esac
ensure_user
