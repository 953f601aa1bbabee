#!/bin/sh
# Install the Debian 12 packages sealpost builds and tests with, when missing.
# Runs apt-get as root (or through sudo); prints what it installs.
set -eu

PKGS="gcc make pkg-config libssl-dev openssl libevent-dev libinih-dev libcrypt-dev
libcmocka-dev clang libclang-rt-14-dev python3 python3-pytest curl swaks fetchmail
ca-certificates"

# The unprivileged account `sealpost serve` drops to (config key `user`).
ensure_user() {
    if [ "$(id -u)" -eq 0 ] && ! id sealpost >/dev/null 2>&1; then
        echo "sealpost: creating system user sealpost" >&2
        useradd --system --home-dir /nonexistent --no-create-home \
            --shell /usr/sbin/nologin sealpost
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
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
ensure_user
