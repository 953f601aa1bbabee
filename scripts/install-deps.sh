#!/bin/sh
# Install the Debian 12 packages sealpost builds and tests with, when missing.
# Runs apt-get as root (or through sudo); prints what it installs.
set -eu

PKGS="gcc make pkg-config libssl-dev openssl libevent-dev libinih-dev libcrypt-dev
libcmocka-dev clang libclang-rt-14-dev python3 python3-pytest curl swaks fetchmail
ca-certificates"

missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0

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
